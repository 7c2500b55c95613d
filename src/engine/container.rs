//! devrig's own view of a container, as the engine reports it: what the
//! layers above read (name, state, health, labels, published ports), in
//! types of devrig's, so that bollard's models stay inside `engine/` and a
//! change of client crate or API version touches this one door.

use bollard::models::{
    ContainerState as ApiState, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryHealthStatusEnum, ContainerSummaryStateEnum, HealthStatusEnum,
    PortSummaryTypeEnum,
};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

/// A container's life-cycle state, as `docker ps` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    /// The engine named no state (or one newer than devrig knows).
    Unknown,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Restarting => "restarting",
            State::Removing => "removing",
            State::Exited => "exited",
            State::Dead => "dead",
            State::Unknown => "unknown",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Docker's own healthcheck status of a container that has a healthcheck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A port's transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container port published on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    /// The host address it is bound to; `None` when the engine gave none.
    pub host_ip: Option<IpAddr>,
    /// The host address as the engine wrote it (kept for display: `0.0.0.0`).
    pub host_ip_text: Option<String>,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

/// One container as listed by the engine (one `docker ps -a` row).
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub id: String,
    /// Its name, without the API's leading `/`.
    pub name: String,
    pub state: State,
    /// Docker's health, when the container has a healthcheck.
    pub health: Option<Health>,
    /// The engine's own summary, e.g. `Up 5 minutes (healthy)`.
    pub status: String,
    pub labels: HashMap<String, String>,
    pub ports: Vec<PublishedPort>,
    /// The named volumes it mounts.
    pub volumes: Vec<String>,
    /// The image it was created from (its id, `sha256:…`).
    pub image_id: String,
}

impl Container {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    pub fn is_running(&self) -> bool {
        self.state == State::Running
    }

    pub(super) fn from_summary(c: ContainerSummary) -> Option<Container> {
        let name = c
            .names
            .as_ref()?
            .first()?
            .trim_start_matches('/')
            .to_owned();
        let state = match c.state {
            Some(ContainerSummaryStateEnum::CREATED) => State::Created,
            Some(ContainerSummaryStateEnum::RUNNING) => State::Running,
            Some(ContainerSummaryStateEnum::PAUSED) => State::Paused,
            Some(ContainerSummaryStateEnum::RESTARTING) => State::Restarting,
            Some(ContainerSummaryStateEnum::REMOVING) => State::Removing,
            Some(ContainerSummaryStateEnum::EXITED) => State::Exited,
            Some(ContainerSummaryStateEnum::DEAD) => State::Dead,
            _ => State::Unknown,
        };
        let health = match c.health.as_ref().and_then(|h| h.status) {
            Some(ContainerSummaryHealthStatusEnum::STARTING) => Some(Health::Starting),
            Some(ContainerSummaryHealthStatusEnum::HEALTHY) => Some(Health::Healthy),
            Some(ContainerSummaryHealthStatusEnum::UNHEALTHY) => Some(Health::Unhealthy),
            _ => None,
        };
        let ports = c
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(PublishedPort {
                    host_ip: p.ip.as_deref().and_then(|ip| ip.parse().ok()),
                    host_ip_text: p.ip.clone(),
                    host_port: p.public_port?,
                    container_port: p.private_port,
                    protocol: match p.typ {
                        Some(PortSummaryTypeEnum::UDP) => Protocol::Udp,
                        Some(PortSummaryTypeEnum::SCTP) => Protocol::Sctp,
                        _ => Protocol::Tcp,
                    },
                })
            })
            .collect();
        let volumes = c
            .mounts
            .iter()
            .flatten()
            .filter(|m| m.typ.as_deref() == Some("volume"))
            .filter_map(|m| m.name.clone())
            .collect();
        Some(Container {
            volumes,
            image_id: c.image_id.unwrap_or_default(),
            id: c.id.unwrap_or_default(),
            name,
            state,
            health,
            status: c.status.unwrap_or_default(),
            labels: c.labels.unwrap_or_default(),
            ports,
        })
    }
}

/// What inspecting one container says about its current run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunState {
    pub id: String,
    /// The image it runs (its id, `sha256:…`).
    pub image_id: String,
    /// The healthcheck test it has: the config's, else its image's
    /// (`["CMD-SHELL", "…"]`); `None` when it has none (or `NONE`).
    pub healthcheck: Option<Vec<String>>,
    pub running: bool,
    pub restarting: bool,
    pub exit_code: Option<i64>,
    /// When the current (or last) run started, RFC 3339 as the engine wrote it.
    pub started_at: Option<String>,
    pub health: Option<Health>,
    /// `running`, `exited`, … as the engine names it.
    pub status: Option<State>,
}

impl RunState {
    pub(super) fn from_inspect(inspect: bollard::models::ContainerInspectResponse) -> RunState {
        let healthcheck = inspect
            .config
            .as_ref()
            .and_then(|c| c.healthcheck.as_ref())
            .and_then(|h| h.test.clone())
            .filter(|test| !test.is_empty() && test[0] != "NONE");
        RunState {
            id: inspect.id.unwrap_or_default(),
            image_id: inspect.image.unwrap_or_default(),
            healthcheck,
            ..RunState::from_api(inspect.state.unwrap_or_default())
        }
    }

    fn from_api(state: ApiState) -> RunState {
        let health = match state.health.as_ref().and_then(|h| h.status) {
            Some(HealthStatusEnum::STARTING) => Some(Health::Starting),
            Some(HealthStatusEnum::HEALTHY) => Some(Health::Healthy),
            Some(HealthStatusEnum::UNHEALTHY) => Some(Health::Unhealthy),
            _ => None,
        };
        let status = state.status.map(|s| match s {
            ContainerStateStatusEnum::CREATED => State::Created,
            ContainerStateStatusEnum::RUNNING => State::Running,
            ContainerStateStatusEnum::PAUSED => State::Paused,
            ContainerStateStatusEnum::RESTARTING => State::Restarting,
            ContainerStateStatusEnum::REMOVING => State::Removing,
            ContainerStateStatusEnum::EXITED => State::Exited,
            ContainerStateStatusEnum::DEAD => State::Dead,
            _ => State::Unknown,
        });
        RunState {
            id: String::new(),
            image_id: String::new(),
            healthcheck: None,
            running: state.running == Some(true),
            restarting: state.restarting == Some(true),
            exit_code: state.exit_code,
            started_at: state.started_at,
            health,
            status,
        }
    }
}
