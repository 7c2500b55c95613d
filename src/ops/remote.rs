//! What the operations do differently when the engine is on another
//! machine (`DOCKER_HOST=ssh://devbox`), so that the stack feels local:
//! `up` refuses bind mounts that cannot exist there, copies the others
//! there, checks every forwarded port on both sides, and hands the
//! forwards to the repo's supervisor, which keeps them (and brings them
//! back after a dropped connection) until `down`; `status` shows them.
//! With a local engine every function here does nothing.

use super::{Error, Event, Observer, programs};
use crate::engine::Engine;
use crate::engine::ssh::Forward;
use crate::plan::Plan;
use crate::stack;
use crate::supervisor::client;
use crate::supervisor::protocol::{
    ConnectionState, ForwardSpec, ForwardState, RemoteStatus, Request,
};
use std::borrow::Cow;

/// A forward the supervisor could not set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot forward {forward} ({purpose}): {detail}")]
pub struct ForwardFailed {
    pub forward: String,
    pub purpose: String,
    pub detail: String,
}

impl ForwardFailed {
    pub fn hint(&self) -> String {
        "free the port (or publish the service on another one) and run `up` again; the supervisor also retries every few seconds, and `devrig status` shows the forwards".to_owned()
    }
}

/// Refuses, before anything is made, a plan whose bind mounts cannot be
/// copied to a remote engine.
pub fn check(engine: &Engine, plan: &Plan) -> Result<(), Error> {
    if engine.remote().is_some() {
        stack::mounts::check(plan)?;
    }
    Ok(())
}

/// For a remote engine: copies what changed of the plan's bind sources
/// there and returns the plan with its mounts pointing at the copies; checks
/// the ports of the plan's forwards on both sides; and has the repo's
/// supervisor forward them. The forwards are up before any container is
/// (re)made, so a program started early finds its ports. A local engine
/// gets the plan as it is.
pub async fn prepare<'p>(
    engine: &Engine,
    plan: &'p Plan,
    observer: &dyn Observer,
) -> Result<Cow<'p, Plan>, Error> {
    let Some(remote) = engine.remote() else {
        forget_other_engine(plan, None)?;
        return Ok(Cow::Borrowed(plan));
    };
    let host = remote.target.name().to_owned();
    let synced = stack::mounts::sync(remote, plan).await?;
    for (source, path) in synced.copied {
        observer.event(Event::Copied {
            source,
            host: host.clone(),
            path,
        });
    }
    let gateway = engine.host_gateway().await?;
    let (wanted, warnings) = stack::forwards::wanted(plan, gateway.as_deref());
    for warning in warnings {
        observer.event(Event::Warning(warning));
    }
    let engine_name = remote.target.to_string();
    let before = forget_other_engine(plan, Some(&engine_name))?;
    let active: Vec<Forward> = before
        .iter()
        .flat_map(|r| &r.forwards)
        .filter(|f| f.state == ForwardState::Up)
        .map(|f| f.spec.forward.clone())
        .collect();
    if wanted.is_empty() && before.is_none() {
        return Ok(Cow::Owned(synced.plan));
    }
    let master = remote.master_pid().await;
    stack::ports::forwards_preflight(engine, &wanted, master, &active).await?;
    let request = Request::Forward {
        target: remote.target.clone(),
        env: std::env::var("SSH_AUTH_SOCK")
            .map(|sock| vec![("SSH_AUTH_SOCK".to_owned(), sock)])
            .unwrap_or_default(),
        forwards: wanted
            .iter()
            .map(|w| ForwardSpec {
                forward: w.forward.clone(),
                purpose: w.purpose.clone(),
            })
            .collect(),
    };
    client::ensure(&plan.root)?;
    let report = programs::ask(&plan.root, &request)?;
    let mut failed = Vec::new();
    for status in report.remote.iter().flat_map(|r| &r.forwards) {
        match status.state {
            ForwardState::Up if !active.contains(&status.spec.forward) => {
                observer.event(Event::Forwarded {
                    forward: status.spec.forward.clone(),
                    host: host.clone(),
                    purpose: status.spec.purpose.clone(),
                });
            }
            ForwardState::Up => {}
            ForwardState::Waiting | ForwardState::Failed => {
                failed.push(Error::from(ForwardFailed {
                    forward: status.spec.forward.describe(&host),
                    purpose: status.spec.purpose.clone(),
                    detail: status
                        .detail
                        .clone()
                        .or_else(|| report.remote.as_ref().and_then(|r| r.detail.clone()))
                        .unwrap_or_else(|| "not connected".to_owned()),
                }))
            }
        }
    }
    match Error::many(failed) {
        Some(e) => Err(e),
        None => Ok(Cow::Owned(synced.plan)),
    }
}

/// The forwards the repo's supervisor keeps for `engine`; those it keeps
/// for another one (DOCKER_HOST changed since the last `up`) are dropped:
/// they would hold the ports this engine's stack wants.
fn forget_other_engine(plan: &Plan, engine: Option<&str>) -> Result<Option<RemoteStatus>, Error> {
    let Some(kept) = programs::status(&plan.root)?.and_then(|r| r.remote) else {
        return Ok(None);
    };
    if Some(kept.engine.as_str()) == engine {
        return Ok(Some(kept));
    }
    if let Ok(target) = crate::engine::endpoint::SshTarget::parse_url(&kept.engine) {
        programs::ask(
            &plan.root,
            &Request::Forward {
                target,
                env: Vec::new(),
                forwards: Vec::new(),
            },
        )?;
    }
    Ok(None)
}

/// `down`'s part: the plan's forwards still listening here once the
/// supervisor is gone (it was killed, so never cancelled them) are
/// cancelled on the engine's master.
pub async fn release(engine: &Engine, plan: &Plan) {
    let Some(remote) = engine.remote() else {
        return;
    };
    let (wanted, _) = stack::forwards::wanted(plan, None);
    let master = remote
        .master_pid()
        .await
        .and_then(|p| i32::try_from(p).ok());
    for w in wanted {
        let Ok(ip) = w.forward.listen.host.parse::<std::net::IpAddr>() else {
            continue;
        };
        let held_by_master = std::net::TcpListener::bind((ip, w.forward.listen.port)).is_err()
            && crate::sys::port_holder(w.forward.listen.port, crate::sys::Transport::Tcp)
                .is_some_and(|h| Some(h.pid) == master);
        if held_by_master {
            let _ = remote.cancel(&w.forward).await;
        }
    }
}

/// `purge`'s part: the bind-mount copies on the remote go too, and the
/// SSH connection.
pub async fn purge(engine: &Engine, observer: &dyn Observer) -> Result<(), Error> {
    let Some(remote) = engine.remote() else {
        return Ok(());
    };
    if stack::mounts::remove_all(remote).await? {
        observer.event(Event::Stack(stack::Event::Resource {
            verb: "Removed",
            what: format!("the bind-mount copies on {}", remote.target.name()),
        }));
    }
    engine.disconnect().await;
    Ok(())
}

/// What `status` shows of a remote engine: the engine, and the forwards
/// the repo's supervisor keeps (none when it keeps none). `None` for a
/// local engine.
pub fn status(engine: &Engine, plan: &Plan) -> Result<Option<RemoteStatus>, Error> {
    let Some(remote) = engine.remote() else {
        return Ok(None);
    };
    let engine_name = remote.target.to_string();
    let kept = programs::status(&plan.root)?
        .and_then(|r| r.remote)
        .filter(|r| r.engine == engine_name);
    Ok(Some(kept.unwrap_or(RemoteStatus {
        engine: engine_name,
        // This very command reached it.
        connection: ConnectionState::Connected,
        detail: None,
        forwards: Vec::new(),
    })))
}
