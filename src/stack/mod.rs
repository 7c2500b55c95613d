//! A plan's containers on the engine: bring them up, report their status,
//! take them down. Progress goes out as [`Event`]s to an [`Observer`], so
//! this module decides what happens and the CLI decides how it looks.

pub mod down;
pub mod forwards;
pub mod logs;
pub mod maintenance;
pub mod mounts;
pub mod ports;
pub mod registry;
pub mod status;
pub mod up;

use crate::engine::spec::{self, ContainerSpec};
use crate::engine::{EngineError, pull};
use crate::plan::{Plan, UnitKind};
use std::time::Duration;

/// Which mode started a container, so state can be rebuilt from the engine.
pub const LABEL_MODE: &str = "dev.devrig.mode";

#[derive(Debug, Clone)]
pub enum Event {
    PullStarted {
        image: String,
    },
    PullProgress {
        image: String,
        progress: pull::Progress,
    },
    PullRetry {
        image: String,
        attempt: u32,
        reason: String,
    },
    PullDone {
        image: String,
    },
    Created {
        container: String,
    },
    Recreated {
        container: String,
        /// Why: `config changed`, `a newer image`.
        because: &'static str,
    },
    /// A present image was pulled again (a moving tag's re-check).
    Rechecked {
        image: String,
        /// A newer image came.
        changed: bool,
    },
    /// A re-check could not ask the registry; the image here is used.
    RecheckFailed {
        image: String,
        reason: String,
    },
    Started {
        container: String,
    },
    Unchanged {
        container: String,
    },
    Waiting {
        container: String,
        on: String,
        waited: Duration,
        last_output: Option<String>,
    },
    Ready {
        container: String,
        after: Duration,
    },
    Completed {
        container: String,
    },
    /// A container is what its dependents need (ready, or a one-shot that
    /// finished), whether this `up` did anything to it or not.
    Available {
        project: String,
        service: String,
    },
    Stopping {
        container: String,
    },
    Stopped {
        container: String,
    },
    Kept {
        project: String,
        users: Vec<String>,
    },
    /// A network or volume made or deleted (`verb`: `Created` or `Removed`).
    Resource {
        verb: &'static str,
        what: String,
    },
}

pub trait Observer: Send + Sync {
    fn event(&self, event: Event);
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("port {port} is already in use by {holder}")]
    PortTaken {
        port: String,
        holder: String,
        service: String,
        config_file: std::path::PathBuf,
        pos: crate::config::yaml::Pos,
    },
    #[error("{container} did not become ready within {}s", timeout.as_secs())]
    Timeout {
        container: String,
        timeout: Duration,
        last_output: Option<String>,
        logs: Vec<String>,
    },
    #[error("{container} exited with code {code}")]
    Exited {
        container: String,
        code: i64,
        logs: Vec<String>,
    },
    #[error(
        "{service} asks `ulimits.{name}` {asked}, more than the engine can give a container ({ceiling})"
    )]
    UlimitTooHigh {
        service: String,
        name: String,
        asked: i64,
        ceiling: u64,
        config_file: std::path::PathBuf,
        pos: crate::config::yaml::Pos,
    },
    #[error("the engine refused `ulimits.{name}` of {service}: {engine}")]
    UlimitRefused {
        service: String,
        name: String,
        /// The engine's own words.
        engine: String,
        config_file: std::path::PathBuf,
        pos: Option<crate::config::yaml::Pos>,
    },
    /// The engine would not create or start a service's container as
    /// configured (a capability, device or option it rejects).
    #[error("the engine refused {service}: {source}")]
    Refused {
        service: String,
        config_file: std::path::PathBuf,
        pos: crate::config::yaml::Pos,
        source: EngineError,
    },
    #[error("image {image} is not here, and pulling is off (--pull never, or --offline)")]
    ImageMissing { image: String },
    #[error("{container} was not started because {dependency} failed")]
    DependencyFailed {
        container: String,
        dependency: String,
    },
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// A bind mount of a stack on a remote engine names a path that only
    /// this machine has.
    #[error("the bind mount {} of {service} is outside the repo and the dependency checkouts, so it cannot be copied to the remote engine", path.display())]
    BindOutside {
        path: std::path::PathBuf,
        service: String,
        config_file: std::path::PathBuf,
        pos: crate::config::yaml::Pos,
    },
    #[error("cannot copy {} to {host}: {message}", path.display())]
    Copy {
        path: std::path::PathBuf,
        host: String,
        message: String,
    },
    #[error(transparent)]
    Ssh(#[from] crate::engine::ssh::SshError),
}

impl StackError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            StackError::Engine(e) => e.hint(),
            StackError::PortTaken { .. } => Some(
                "stop what holds the port, or give the service another host port".to_owned(),
            ),
            StackError::Timeout { .. } => Some(
                "the stack is left as it is: inspect it with `devrig logs`, raise healthcheck_timeout, or fix the service and run `up` again".to_owned(),
            ),
            StackError::Exited { .. } => {
                Some("see its last output above, fix it, and run `up` again".to_owned())
            }
            StackError::DependencyFailed { .. } => None,
            StackError::UlimitTooHigh { name, ceiling, .. } => Some(format!(
                "lower `ulimits.{name}` to {ceiling} or less where the service is configured (above), or raise the engine's own limit (`LimitNOFILE=` in dockerd's systemd unit, or `ulimit -n` where dockerd is started) and restart it"
            )),
            StackError::UlimitRefused { name, .. } => Some(format!(
                "the engine cannot give its containers that much: lower `ulimits.{name}` where the service is configured (above), or raise the engine's own limit (`LimitNOFILE=` in dockerd's systemd unit) and restart it"
            )),
            StackError::Refused { .. } => Some(
                "change the service's definition shown above to what the engine accepts, or give the engine what the service needs".to_owned(),
            ),
            StackError::ImageMissing { .. } => Some(
                "run `up` once with the network (or `--pull missing`), or `docker pull` it".to_owned(),
            ),
            StackError::State(e) => Some(e.hint()),
            StackError::BindOutside { .. } => Some(
                "move what it mounts into the repo (or use a named volume): a remote engine only gets copies of files inside the repo and the dependency checkouts".to_owned(),
            ),
            StackError::Copy { host, .. } => Some(format!(
                "check the free space and permissions of ~/.cache/devrig/mounts on {host}"
            )),
            StackError::Ssh(e) => Some(e.hint()),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            StackError::Engine(e) => e.exit_code(),
            StackError::BindOutside { .. } => crate::exit::USAGE,
            StackError::Ssh(_) => crate::exit::ENGINE,
            _ => crate::exit::FAILURE,
        }
    }
}

/// Container specs for every container unit of the plan, in plan order.
pub fn specs(plan: &Plan, mirror: Option<&str>) -> Vec<ContainerSpec> {
    plan.levels
        .iter()
        .flatten()
        .filter(|u| u.kind == UnitKind::Container)
        .map(|unit| {
            let project = &plan.projects[&unit.project];
            let service = &project.config.services[&unit.name];
            let mut spec = spec::container(&unit.project, &project.config, service, mirror);
            spec.add_label(LABEL_MODE, &project.modes.join(","));
            spec
        })
        .collect()
}
