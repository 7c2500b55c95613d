//! `status`: the plan's containers (readiness as `up` judged it, see
//! [`crate::stack::status`]), the repo's supervised programs (one socket
//! request), and the dependencies toggled to run locally. Without a mode
//! it shows the mode the repo runs in, as `down` stops it.

use super::{Error, Observer, Session, Target, context, programs};
use crate::plan::remote::FetchPolicy;
use crate::stack::status::ContainerStatus;
use crate::supervisor::protocol::{ProgramStatus, RemoteStatus};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct StatusOptions {
    pub target: Target,
    /// The mode; the one it runs in (else `default`) when `None`.
    pub mode: Option<String>,
    pub fetch: FetchPolicy,
}

/// What `status` shows, and what `status --json` prints.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub containers: Vec<ContainerStatus>,
    pub programs: Vec<ProgramStatus>,
    /// The pid of the repo's supervisor, when one runs.
    pub supervisor_pid: Option<u32>,
    /// Dependencies toggled to run from their own checkouts.
    pub local: Vec<LocalService>,
    /// An engine on another machine, and the ports forwarded to and from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteStatus>,
}

#[derive(Debug, Serialize)]
pub struct LocalService {
    pub service: String,
    pub checkout: PathBuf,
    /// Whether it is up (started from its checkout).
    pub running: bool,
}

pub fn status(opts: &StatusOptions, observer: &dyn Observer) -> Result<StatusReport, Error> {
    // Read once: the plan's local services and the ready records.
    let state = context::peek_state();
    let config = opts.target.load(observer)?;
    let mode = context::mode_or_running(opts.mode.as_deref(), config.project(), &state);
    let plan = context::resolve_in(config, &mode, opts.fetch, &state, observer)?;
    // Names and labels only: no image reference matters, so no mirror.
    let specs = crate::stack::specs(&plan, None);
    let (programs, supervisor_pid) = programs::rows(&plan)?;
    let (containers, remote) = if specs.is_empty() {
        (Vec::new(), None)
    } else {
        Session::new()?.block_on(async {
            let engine = context::engine(observer).await?;
            let containers = crate::stack::status::status(&engine, &specs, &state.ready).await?;
            Ok::<_, Error>((containers, super::remote::status(&engine, &plan)?))
        })?
    };
    let local = plan
        .local
        .iter()
        .filter_map(|service| {
            Some(LocalService {
                service: service.clone(),
                checkout: state.local.get(service)?.checkout.clone(),
                running: state.services.contains_key(service),
            })
        })
        .collect();
    Ok(StatusReport {
        containers,
        programs,
        supervisor_pid,
        local,
        remote,
    })
}
