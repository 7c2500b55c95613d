//! One operation's async runtime and its one cancellation token.
//!
//! In an [`Session::interruptible`] session Ctrl-C cancels the token; every
//! wait of the operation (pulls, readiness, programs settling, following
//! logs) observes it and returns what it has, so an interrupted `up` still
//! saves its state. Other sessions leave Ctrl-C its default action: a
//! quick query needs no clean-up.
//!
//! The session also holds the operation's one engine connection, made on
//! first use: an operation made of others (`toggle` = `down` + `up`s,
//! `up` of local services first) connects once, not once per part.

use super::{Error, Observer, context};
use crate::engine::Engine;
use std::future::Future;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

pub struct Session {
    runtime: tokio::runtime::Runtime,
    cancel: CancellationToken,
    engine: OnceCell<Engine>,
}

impl Session {
    /// A runtime for work that Ctrl-C may simply end (the default signal
    /// action stays: a quick query needs no clean-up).
    pub fn new() -> Result<Session, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(Session {
            runtime,
            cancel: CancellationToken::new(),
            engine: OnceCell::new(),
        })
    }

    /// A runtime whose token Ctrl-C cancels, for work that must end
    /// cleanly (save what it did) when interrupted. Its one worker thread
    /// keeps listening while the caller's thread waits on something
    /// synchronous.
    pub fn interruptible() -> Result<Session, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let cancel = CancellationToken::new();
        let on_interrupt = cancel.clone();
        // Registered before the work starts, so no Ctrl-C falls between.
        let interrupt = runtime
            .block_on(async {
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            })
            .map_err(Error::Runtime)?;
        runtime.spawn(async move {
            let mut interrupt = interrupt;
            interrupt.recv().await;
            on_interrupt.cancel();
        });
        Ok(Session {
            runtime,
            cancel,
            engine: OnceCell::new(),
        })
    }

    /// Runs `work` to its end on this session's runtime.
    pub fn block_on<F: Future>(&self, work: F) -> F::Output {
        self.runtime.block_on(work)
    }

    /// Cancelled by Ctrl-C.
    pub fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The engine, connected on the first call (which reports where to).
    pub async fn engine(&self, observer: &dyn Observer) -> Result<&Engine, Error> {
        self.engine
            .get_or_try_init(|| context::engine(observer))
            .await
    }
}
