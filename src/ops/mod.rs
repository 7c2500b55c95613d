//! The operations behind the commands: `cli/X.rs` turns arguments into an
//! `ops::X` options value, calls the operation, and renders what it returns.
//! An operation never prints and never parses arguments: what happens while
//! it runs goes out as [`Event`]s to an [`Observer`], what it found comes
//! back as a report type, and what went wrong as an [`Error`] that knows its
//! hint and exit code.
//!
//! Operations call each other with typed options (`toggle` runs `up` and
//! `down`, `serve` runs `up`), never through the command line.

pub mod config;
pub mod context;
pub mod doctor;
pub mod down;
pub mod fetch;
pub mod foreground;
pub mod init;
pub mod logs;
pub mod programs;
pub mod pulls;
pub mod purge;
pub mod remote;
pub mod reset;
pub mod serve;
pub mod services;
mod session;
pub mod snapshot;
pub mod status;
pub mod sync;
pub mod tighten;
pub mod toggle;
pub mod up;
pub mod update;

pub use context::{ContextError, Target};
pub use session::Session;

use crate::config::ConfigError;
use crate::engine::EngineError;
use crate::plan::PlanError;
use crate::plan::conflicts::Conflict;
use crate::stack::StackError;
use crate::state::StateError;
use crate::supervisor::SupervisorError;
use crate::supervisor::client::ClientError;
use crate::supervisor::protocol::ProgramStatus;
use std::path::PathBuf;
use std::time::Duration;

/// What happens while an operation runs, for the CLI to show.
#[derive(Debug, Clone)]
pub enum Event {
    /// Something the user should know that does not stop the operation
    /// (a compose key devrig ignores, a fallback it took).
    Warning(String),
    /// Detail for `--verbose`: where things are, what was decided.
    Note(String),
    /// Containers: pulls, creates, readiness, stops.
    Stack(crate::stack::Event),
    /// A dependency toggled to run locally is started from its checkout
    /// (`already_running`: it was up, nothing to do).
    LocalStarting {
        service: String,
        checkout: PathBuf,
        already_running: bool,
    },
    /// A local dependency is kept running for other services.
    LocalKept { service: String, users: Vec<String> },
    /// A service's containers are up and ready (also for a local dependency
    /// started on the way).
    ServiceUp {
        project: String,
        mode: String,
        elapsed: Duration,
    },
    /// A service's containers are stopped.
    ServiceDown { project: String, mode: String },
    /// A program's state once `up` has waited for it to settle.
    ProgramSettled(ProgramStatus),
    /// A supervised program was stopped (by `down`, `purge`).
    ProgramStopped { project: String, name: String },
    /// Programs started early, before the failure that stopped `up`.
    StartedBeforeFailure(Vec<String>),
    /// A container that was stopped to move its service (`toggle`).
    ContainerStopped { container: String, reason: String },
    /// `toggle` restarts a dependent to run a service the other way.
    Restarting {
        project: String,
        mode: String,
        service: String,
    },
    /// A program handed between the supervisor and this terminal.
    Foreground(foreground::Step),
    /// A doctor fix was applied.
    Fixed { check: String, command: String },
    /// A snapshot's copies, pauses and volumes.
    Snapshot(snapshot::Step),
    /// `toggle` recorded the new runtime: local from `checkout`, or
    /// containerized (`None`).
    Toggled {
        service: String,
        checkout: Option<PathBuf>,
    },
    /// A bind source copied to the remote engine's host, at `path` there.
    Copied {
        source: PathBuf,
        host: String,
        path: String,
    },
    /// A port newly forwarded between this machine and the remote engine's.
    Forwarded {
        forward: crate::engine::ssh::Forward,
        host: String,
        purpose: String,
    },
}

/// Where an operation's events go.
pub trait Observer: Send + Sync {
    fn event(&self, event: Event);
}

impl Observer for () {
    fn event(&self, _: Event) {}
}

impl<T: Observer + ?Sized> Observer for &T {
    fn event(&self, event: Event) {
        (**self).event(event)
    }
}

/// Container events, passed on as operation events.
pub(crate) struct StackEvents<'a>(pub &'a dyn Observer);

impl crate::stack::Observer for StackEvents<'_> {
    fn event(&self, event: crate::stack::Event) {
        self.0.event(Event::Stack(event));
    }
}

/// An operation's failure: the error of the layer it came from, or one of
/// the operation's own.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Supervisor(#[from] ClientError),
    #[error(transparent)]
    Foreground(#[from] SupervisorError),
    #[error(transparent)]
    Sync(#[from] crate::toolchain::SyncError),
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
    #[error(transparent)]
    Program(#[from] programs::ProgramError),
    #[error(transparent)]
    Serve(#[from] serve::ServeError),
    #[error(transparent)]
    Toggle(#[from] toggle::ToggleError),
    #[error(transparent)]
    Init(#[from] init::InitError),
    #[error(transparent)]
    UnknownService(#[from] services::UnknownService),
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
    #[error(transparent)]
    ChecksFailed(#[from] doctor::ChecksFailed),
    #[error(transparent)]
    Logs(#[from] logs::LogsError),
    #[error(transparent)]
    NothingToReset(#[from] reset::NothingToReset),
    #[error(transparent)]
    AdoptedVolumes(#[from] reset::AdoptedVolumes),
    #[error(transparent)]
    Forward(#[from] remote::ForwardFailed),
    /// Two services claim the same port or name; nothing was started.
    #[error("{0}")]
    Conflict(Box<Conflict>),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// Ctrl-C. `kept` says what was kept of the work done.
    #[error("interrupted")]
    Interrupted { kept: &'static str },
    /// Several failures; the last decides the exit code.
    #[error("{} failures", .0.len())]
    Many(Vec<Error>),
}

impl Error {
    /// A list of failures as one error (the only one when there is one).
    pub fn many(mut errors: Vec<Error>) -> Option<Error> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(Error::Many(errors)),
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Context(e) => e.hint(),
            Error::Config(e) => e.hint.clone(),
            Error::Plan(e) => e.hint(),
            Error::Engine(e) => e.hint(),
            Error::Stack(e) => e.hint(),
            Error::State(e) => Some(e.hint()),
            Error::Supervisor(e) => e.hint(),
            Error::Foreground(_) => None,
            Error::Sync(e) => e.hint(),
            Error::Fetch(e) => e.hint(),
            Error::Template(e) => Some(e.hint()),
            Error::Program(e) => e.hint(),
            Error::Serve(e) => e.hint(),
            Error::Toggle(e) => e.hint(),
            Error::Init(e) => e.hint(),
            Error::UnknownService(e) => Some(e.hint()),
            Error::Snapshot(e) => e.hint(),
            Error::ChecksFailed(e) => Some(e.hint()),
            Error::Logs(e) => e.hint(),
            Error::NothingToReset(_) => Some(
                "name a compose service of this repo's plan (`devrig config` lists them), or one that runs"
                    .to_owned(),
            ),
            Error::AdoptedVolumes(e) => Some(e.hint()),
            Error::Forward(e) => Some(e.hint()),
            Error::Conflict(c) => Some(c.hint.clone()),
            Error::Io { .. } | Error::Runtime(_) => None,
            Error::Interrupted { kept } => Some((*kept).to_owned()),
            Error::Many(all) => all.last().and_then(Error::hint),
        }
    }

    /// The exit code it means (see [`crate::exit`]).
    pub fn exit_code(&self) -> u8 {
        use crate::exit;
        match self {
            Error::Context(e) => e.exit_code(),
            Error::Config(_)
            | Error::Template(_)
            | Error::Conflict(_)
            | Error::UnknownService(_) => exit::USAGE,
            Error::Plan(e) => e.exit_code(),
            Error::Engine(e) => e.exit_code(),
            Error::Stack(e) => e.exit_code(),
            Error::Sync(e) => e.exit_code(),
            Error::Fetch(e) => e.exit_code(),
            Error::Serve(e) => e.exit_code(),
            Error::Toggle(e) => e.exit_code(),
            Error::Init(e) => e.exit_code(),
            Error::Program(e) => e.exit_code(),
            Error::Snapshot(e) => e.exit_code(),
            Error::State(_)
            | Error::ChecksFailed(_)
            | Error::NothingToReset(_)
            | Error::AdoptedVolumes(_)
            | Error::Logs(_)
            | Error::Forward(_)
            | Error::Supervisor(_)
            | Error::Foreground(_)
            | Error::Io { .. }
            | Error::Runtime(_) => exit::FAILURE,
            Error::Interrupted { .. } => exit::INTERRUPTED,
            Error::Many(all) => all.last().map_or(exit::FAILURE, Error::exit_code),
        }
    }
}

impl From<Conflict> for Error {
    fn from(c: Conflict) -> Self {
        Error::Conflict(Box::new(c))
    }
}

/// The mode a service runs in when nobody says otherwise, as in devservices.
pub const DEFAULT_MODE: &str = "default";
