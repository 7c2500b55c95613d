//! `status`: the plan's containers (one engine query), the repo's
//! supervised programs (one socket request), and the dependencies toggled
//! to run locally.

use super::{Error, Observer, Session, Target, context, programs};
use crate::plan::remote::FetchPolicy;
use crate::stack::status::ContainerStatus;
use crate::supervisor::protocol::ProgramStatus;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct StatusOptions {
    pub target: Target,
    pub mode: String,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub local: Vec<LocalService>,
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
    // Names and labels only: no image reference matters, so no mirror.
    let specs = crate::stack::specs(&plan, None);
    let (programs, supervisor_pid) = programs::rows(&plan)?;
    let containers = if specs.is_empty() {
        Vec::new()
    } else {
        Session::new()?.block_on(async {
            let engine = context::engine(observer).await?;
            Ok::<_, Error>(crate::stack::status::status(&engine, &specs).await?)
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
    })
}
