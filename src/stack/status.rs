//! `status`: every container of the plan, with one readiness model shared
//! with `up`: a container is `ready` when devrig's probe passed for its
//! current start (the record `up` leaves in the state), it still runs that
//! start, and Docker has not reported it `unhealthy` since. Docker's own
//! health is reported beside it. No probe runs here: one list of the
//! containers, then one inspect each (at most [`INSPECTS`] at a time) for
//! the start time and exit code.

use crate::engine::spec::ContainerSpec;
use crate::engine::{Container, Engine, EngineError, Health, RunState};
use crate::state::Ready;
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;

/// Inspects at a time.
const INSPECTS: usize = 8;

/// One container of the plan, as `status` and `status --json` show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContainerStatus {
    pub project: String,
    pub service: String,
    pub container: String,
    /// `created`, `running`, `restarting`, `exited`, …, or `missing` when
    /// never created.
    pub state: String,
    /// How its last run ended, once it has.
    pub exit_code: Option<i64>,
    /// devrig's readiness (see the module documentation).
    pub health: Readiness,
    /// Docker's own healthcheck status: `starting`, `healthy`,
    /// `unhealthy`, or `none` without a healthcheck.
    pub docker_health: String,
    /// When its current (or last) run started, RFC 3339.
    pub started_at: Option<String>,
    /// The engine's own summary, e.g. `Up 5 minutes (healthy)`.
    pub status: String,
    pub ports: Vec<PortStatus>,
}

/// devrig's word on a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Readiness {
    /// Its probe passed for this start (or it needs none, or Docker says
    /// healthy).
    Ready,
    /// It runs, and is not ready yet.
    Starting,
    /// Docker reports it unhealthy.
    Unhealthy,
    /// It does not run.
    None,
}

/// A published port.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortStatus {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

/// Each spec's container (in plan order), judged with `ready`, the state's
/// records of ready runs.
pub async fn status(
    engine: &Engine,
    specs: &[ContainerSpec],
    ready: &BTreeMap<String, Ready>,
) -> Result<Vec<ContainerStatus>, EngineError> {
    let mut projects: Vec<String> = specs.iter().map(|s| s.project.clone()).collect();
    projects.dedup();
    let containers = engine.containers(&projects).await?;
    let found: Vec<(&ContainerSpec, Option<&Container>)> = specs
        .iter()
        .map(|spec| (spec, containers.iter().find(|c| c.name == spec.name)))
        .collect();
    let inspected: Vec<Result<Option<RunState>, EngineError>> =
        futures_util::stream::iter(found.iter().map(|(_, c)| async move {
            match c {
                Some(c) => engine.run_state(&c.name).await.map(Some),
                None => Ok(None),
            }
        }))
        .buffered(INSPECTS)
        .collect()
        .await;
    found
        .into_iter()
        .zip(inspected)
        .map(|((spec, container), run)| {
            Ok(match (container, run?) {
                (Some(c), Some(run)) => describe(spec, c, &run, ready.get(&spec.name)),
                _ => missing(spec),
            })
        })
        .collect()
}

fn missing(spec: &ContainerSpec) -> ContainerStatus {
    ContainerStatus {
        project: spec.project.clone(),
        service: spec.service.clone(),
        container: spec.name.clone(),
        state: "missing".to_owned(),
        exit_code: None,
        health: Readiness::None,
        docker_health: "none".to_owned(),
        started_at: None,
        status: "not created".to_owned(),
        ports: Vec::new(),
    }
}

fn describe(
    spec: &ContainerSpec,
    c: &Container,
    run: &RunState,
    ready: Option<&Ready>,
) -> ContainerStatus {
    let mut ports: Vec<PortStatus> = c
        .ports
        .iter()
        .map(|p| PortStatus {
            host_ip: p
                .host_ip_text
                .clone()
                .unwrap_or_else(|| "0.0.0.0".to_owned()),
            host_port: p.host_port,
            container_port: p.container_port,
            protocol: p.protocol.to_string(),
        })
        .collect();
    ports.sort_by(|a, b| {
        (&a.host_ip, a.host_port, a.container_port).cmp(&(
            &b.host_ip,
            b.host_port,
            b.container_port,
        ))
    });
    ports.dedup();
    ContainerStatus {
        project: spec.project.clone(),
        service: spec.service.clone(),
        container: spec.name.clone(),
        state: c.state.to_string(),
        exit_code: (!run.running).then_some(run.exit_code).flatten(),
        health: readiness(c, run, ready),
        docker_health: run
            .health
            .map_or_else(|| "none".to_owned(), |h| h.to_string()),
        started_at: run.started_at.clone(),
        status: c.status.clone(),
        ports,
    }
}

/// The one readiness model (see the module documentation).
fn readiness(c: &Container, run: &RunState, ready: Option<&Ready>) -> Readiness {
    if !run.running || run.restarting {
        return Readiness::None;
    }
    match run.health {
        Some(Health::Unhealthy) => return Readiness::Unhealthy,
        Some(Health::Healthy) => return Readiness::Ready,
        _ => {}
    }
    let probed = ready.is_some_and(|r| {
        run.started_at
            .as_deref()
            .is_some_and(|started| r.is_run(&c.id, started))
    });
    if probed || run.healthcheck.is_none() {
        Readiness::Ready
    } else {
        Readiness::Starting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::State;

    fn container() -> Container {
        Container {
            id: "c1".to_owned(),
            name: "app-db-1".to_owned(),
            state: State::Running,
            health: None,
            status: "Up 2 seconds".to_owned(),
            labels: Default::default(),
            ports: Vec::new(),
            volumes: Vec::new(),
            image_id: String::new(),
        }
    }

    fn run(health: Option<Health>, healthcheck: bool) -> RunState {
        RunState {
            id: "c1".to_owned(),
            running: true,
            started_at: Some("2026-12-01T10:00:00Z".to_owned()),
            health,
            healthcheck: healthcheck.then(|| vec!["CMD".to_owned(), "true".to_owned()]),
            ..RunState::default()
        }
    }

    fn seen(id: &str, started_at: &str) -> Ready {
        Ready {
            id: id.to_owned(),
            started_at: started_at.to_owned(),
            ready_at: String::new(),
        }
    }

    #[test]
    fn ready_is_the_probed_start_until_docker_says_unhealthy() {
        let c = container();
        let probed = seen("c1", "2026-12-01T10:00:00Z");
        // Probed this start, Docker still starting: ready.
        assert_eq!(
            readiness(&c, &run(Some(Health::Starting), true), Some(&probed)),
            Readiness::Ready
        );
        // Not probed yet: starting.
        assert_eq!(
            readiness(&c, &run(Some(Health::Starting), true), None),
            Readiness::Starting
        );
        // Probed an earlier start: starting again.
        let earlier = seen("c1", "2026-12-01T09:00:00Z");
        assert_eq!(
            readiness(&c, &run(Some(Health::Starting), true), Some(&earlier)),
            Readiness::Starting
        );
        // Another container of the same name (recreated): not ready.
        let other = seen("c0", "2026-12-01T10:00:00Z");
        assert_eq!(
            readiness(&c, &run(None, true), Some(&other)),
            Readiness::Starting
        );
        // Docker's unhealthy wins over an old probe.
        assert_eq!(
            readiness(&c, &run(Some(Health::Unhealthy), true), Some(&probed)),
            Readiness::Unhealthy
        );
        // No healthcheck at all: running is ready.
        assert_eq!(readiness(&c, &run(None, false), None), Readiness::Ready);
        // Restarting or stopped: none.
        let restarting = RunState {
            restarting: true,
            ..run(None, false)
        };
        assert_eq!(readiness(&c, &restarting, Some(&probed)), Readiness::None);
        let stopped = RunState {
            running: false,
            ..run(None, false)
        };
        assert_eq!(readiness(&c, &stopped, Some(&probed)), Readiness::None);
    }
}
