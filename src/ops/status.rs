//! `status`: the plan's containers (one engine query), the repo's
//! supervised programs (one socket request), and the dependencies toggled
//! to run locally.

use super::{Error, Observer, Session, Target, context, programs};
use crate::plan::remote::FetchPolicy;
use crate::stack::status::ContainerStatus;
use crate::supervisor::protocol::{ProgramStatus, RemoteStatus};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct StatusOptions {
    pub target: Target,
    pub mode: String,
    pub fetch: FetchPolicy,
    pub mirror: Option<String>,
}

/// What `status` shows, and what `status --json` prints.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub containers: Vec<ContainerStatus>,
    pub programs: Vec<ProgramStatus>,
    /// The pid of the repo's supervisor, when one runs.
    pub supervisor_pid: Option<u32>,
    /// Dependencies toggled to run from their own checkouts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
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
    let plan = opts.target.plan(&opts.mode, opts.fetch, observer)?;
    let specs = crate::stack::specs(&plan, opts.mirror.as_deref());
    let (programs, supervisor_pid) = programs::rows(&plan)?;
    let (containers, remote) = if specs.is_empty() {
        (Vec::new(), None)
    } else {
        Session::new()?.block_on(async {
            let engine = context::engine(observer).await?;
            let containers = crate::stack::status::status(&engine, &specs).await?;
            Ok::<_, Error>((containers, super::remote::status(&engine, &plan)?))
        })?
    };
    let state = context::peek_state();
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
