//! `status`: every container of the plan, from one engine query.

use crate::engine::spec::ContainerSpec;
use crate::engine::{Engine, EngineError};
use bollard::models::{ContainerSummary, PortSummaryTypeEnum};
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
            let found = containers.iter().find(|c| {
                c.names
                    .iter()
                    .flatten()
                    .any(|n| n.trim_start_matches('/') == spec.name)
            });
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

fn describe(spec: &ContainerSpec, c: &ContainerSummary) -> ContainerStatus {
    let mut ports: Vec<String> = c
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            let public = p.public_port?;
            let proto = match p.typ {
                Some(PortSummaryTypeEnum::UDP) => "/udp",
                _ => "",
            };
            Some(format!(
                "{}:{public}->{}{proto}",
                p.ip.as_deref().unwrap_or("0.0.0.0"),
                p.private_port
            ))
        })
        .collect();
    ports.sort();
    ports.dedup();
    let text = |v: &dyn std::fmt::Debug| format!("{v:?}").to_ascii_lowercase();
    ContainerStatus {
        project: spec.project.clone(),
        service: spec.service.clone(),
        container: spec.name.clone(),
        state: c
            .state
            .map(|s| text(&s))
            .unwrap_or_else(|| "unknown".to_owned()),
        health: c
            .health
            .as_ref()
            .and_then(|h| h.status)
            .map(|s| text(&s))
            .filter(|s| !s.is_empty() && s != "none" && s != "empty"),
        status: c.status.clone().unwrap_or_default(),
        ports,
    }
}
