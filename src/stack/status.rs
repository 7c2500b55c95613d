//! `status`: every container of the plan, from one engine query.

use crate::engine::spec::ContainerSpec;
use crate::engine::{Container, Engine, EngineError, Protocol};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContainerStatus {
    pub project: String,
    pub service: String,
    pub container: String,
    /// `running`, `exited`, `created`…, or `missing` when never created.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The engine's own summary, e.g. `Up 5 minutes (healthy)`.
    pub status: String,
    pub ports: Vec<String>,
}

pub async fn status(
    engine: &Engine,
    specs: &[ContainerSpec],
) -> Result<Vec<ContainerStatus>, EngineError> {
    let mut projects: Vec<String> = specs.iter().map(|s| s.project.clone()).collect();
    projects.dedup();
    let containers = engine.containers(&projects).await?;
    Ok(specs
        .iter()
        .map(|spec| {
            let found = containers.iter().find(|c| c.name == spec.name);
            match found {
                Some(c) => describe(spec, c),
                None => ContainerStatus {
                    project: spec.project.clone(),
                    service: spec.service.clone(),
                    container: spec.name.clone(),
                    state: "missing".to_owned(),
                    health: None,
                    status: "not created".to_owned(),
                    ports: Vec::new(),
                },
            }
        })
        .collect())
}

fn describe(spec: &ContainerSpec, c: &Container) -> ContainerStatus {
    let mut ports: Vec<String> = c
        .ports
        .iter()
        .map(|p| {
            let proto = match p.protocol {
                Protocol::Udp => "/udp",
                _ => "",
            };
            format!(
                "{}:{}->{}{proto}",
                p.host_ip_text.as_deref().unwrap_or("0.0.0.0"),
                p.host_port,
                p.container_port
            )
        })
        .collect();
    ports.sort();
    ports.dedup();
    ContainerStatus {
        project: spec.project.clone(),
        service: spec.service.clone(),
        container: spec.name.clone(),
        state: c.state.to_string(),
        health: c.health.map(|h| h.to_string()),
        status: c.status.clone(),
        ports,
    }
}
