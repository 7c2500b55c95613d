//! `config`: the resolved plan, as `docker compose config` prints a
//! project, but across every repo the mode pulls in.

use super::{Error, Event, Observer, Target};
use crate::config::{Network, Program, Service, Volume};
use crate::plan::remote::FetchPolicy;
use crate::plan::{Plan, Source};
use indexmap::IndexMap;
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ConfigOptions {
    pub target: Target,
    pub mode: String,
    pub fetch: FetchPolicy,
}

/// Resolves the plan; its conflicts (which `up` refuses) go to `observer`
/// as warnings, both places named.
pub fn config(opts: &ConfigOptions, observer: &dyn Observer) -> Result<Plan, Error> {
    let plan = opts.target.plan(&opts.mode, opts.fetch, observer)?;
    // The programs are printed as they would run: one that cannot in this
    // shell is the error `up` would give.
    for project in plan.projects.values() {
        for name in &project.programs {
            if let Some(program) = project.config.programs.get(name) {
                program.runnable()?;
            }
        }
    }
    for conflict in &plan.conflicts {
        observer.event(Event::Warning(format!(
            "{conflict}: {}:{} and {}:{}; {}",
            conflict.first.file.display(),
            conflict.first.pos,
            conflict.second.file.display(),
            conflict.second.pos,
            conflict.hint
        )));
    }
    Ok(plan)
}

#[derive(Serialize)]
pub struct PlanOutput<'a> {
    pub service: &'a str,
    pub mode: &'a str,
    pub projects: IndexMap<&'a str, ProjectOutput<'a>>,
    /// Levels of `project/name` units; each level starts once the previous is ready.
    pub start_order: Vec<Vec<String>>,
    /// Ports or names two services both claim; `up` refuses while any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
}

/// One compose project, in `docker compose config`'s shape plus devservices'
/// own parts (modes, programs, where the config came from).
#[derive(Serialize)]
pub struct ProjectOutput<'a> {
    pub name: &'a str,
    pub config_file: String,
    pub source: &'a Source,
    pub modes: &'a [String],
    pub services: IndexMap<&'a str, &'a Service>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub programs: IndexMap<&'a str, &'a Program>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub networks: IndexMap<String, Network>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub volumes: IndexMap<String, Volume>,
}

/// The plan in the shape `config` prints.
pub fn output(plan: &Plan) -> PlanOutput<'_> {
    let projects = plan
        .projects
        .iter()
        .map(|(name, project)| {
            let config = &project.config;
            let services: IndexMap<&str, &Service> = project
                .services
                .iter()
                .map(|s| (s.as_str(), &config.services[s]))
                .collect();
            // Like compose, name what the engine will see.
            let mut networks: IndexMap<String, Network> = IndexMap::new();
            for net in services.values().flat_map(|svc| svc.networks.keys()) {
                let mut def = config.networks.get(net).cloned().unwrap_or_default();
                def.name = Some(config.network_name(name, net).0);
                networks.insert(net.clone(), def);
            }
            let mut volumes: IndexMap<String, Volume> = IndexMap::new();
            let sources = services
                .values()
                .flat_map(|svc| &svc.volumes)
                .filter(|v| v.kind == "volume")
                .filter_map(|v| v.source.as_ref());
            for source in sources {
                let mut def = config.volumes.get(source).cloned().unwrap_or_default();
                def.name = Some(config.volume_name(name, source).0);
                volumes.insert(source.clone(), def);
            }
            let output = ProjectOutput {
                name,
                config_file: config.file.display().to_string(),
                source: &project.source,
                modes: &project.modes,
                services,
                programs: project
                    .programs
                    .iter()
                    .map(|p| (p.as_str(), &config.programs[p]))
                    .collect(),
                networks,
                volumes,
            };
            (name.as_str(), output)
        })
        .collect();
    PlanOutput {
        service: &plan.root,
        mode: &plan.mode,
        projects,
        start_order: plan
            .levels
            .iter()
            .map(|level| level.iter().map(ToString::to_string).collect())
            .collect(),
        conflicts: plan.conflicts.iter().map(ToString::to_string).collect(),
    }
}
