//! The services devrig knows (`list-services`) and one service's
//! dependency tree (`list-dependencies`).
//!
//! Services are found without the network: this repo, the repos directly
//! under sentry-devenv's coderoot (`[devenv] coderoot` in
//! `~/.config/sentry-devenv/config.ini`, where devservices looks them up),
//! and the remotes already in the dependency cache.

use super::{Error, Event, Observer, Session, Target, context};
use crate::config::{self, Config, Variables};
use crate::plan::remote::{FetchPolicy, RemoteCache};
use crate::plan::{Plan, Source};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A service found on this machine.
#[derive(Serialize, Debug, Clone)]
pub struct KnownService {
    pub name: String,
    pub modes: Vec<String>,
    pub config_file: PathBuf,
    /// `repo` for a checkout of the user's, `cache` for a fetched remote.
    pub origin: &'static str,
    /// Whether any of its containers runs; `None` when no engine answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
}

/// Every service devrig can see (see the module documentation); a config
/// that cannot be read is skipped with a warning naming its place.
pub fn known(target: &Target, observer: &dyn Observer) -> Vec<KnownService> {
    let vars = Variables::from_process();
    let mut candidates: Vec<(PathBuf, &'static str)> = Vec::new();
    if let Ok(path) = target.config_path() {
        candidates.push((path, "repo"));
    }
    if let Some(coderoot) = devenv_coderoot() {
        candidates.extend(
            children_with_config(&coderoot)
                .into_iter()
                .map(|p| (p, "repo")),
        );
    }
    candidates.extend(
        children_with_config(&RemoteCache::default_root())
            .into_iter()
            .map(|p| (p, "cache")),
    );
    let mut out: Vec<KnownService> = Vec::new();
    for (path, origin) in candidates {
        let canonical = path.canonicalize().unwrap_or(path.clone());
        if out.iter().any(|k| k.config_file == canonical) {
            continue;
        }
        match config::load(&canonical, &vars) {
            Ok(config) if !out.iter().any(|k| k.name == config.project()) => {
                out.push(KnownService {
                    name: config.project().to_owned(),
                    modes: config.meta.modes.keys().cloned().collect(),
                    config_file: canonical,
                    origin,
                    running: None,
                })
            }
            Ok(_) => {}
            Err(e) => observer.event(Event::Warning(format!("skipping {}: {e}", e.location()))),
        }
    }
    out
}

/// [`known`], each marked running or not; a listing must not fail or wait
/// because no engine runs, so an unreachable engine leaves them unmarked.
pub fn list(target: &Target, observer: &dyn Observer) -> Vec<KnownService> {
    let mut services = known(target, observer);
    let running: Option<Vec<String>> = Session::new().ok().and_then(|session| {
        session.block_on(async {
            let engine = crate::engine::Engine::connect().await.ok()?;
            let containers = engine.containers(&[]).await.ok()?;
            Some(
                containers
                    .iter()
                    .filter(|c| c.is_running())
                    .filter_map(|c| c.label(crate::engine::spec::LABEL_PROJECT))
                    .map(str::to_owned)
                    .collect(),
            )
        })
    });
    if let Some(running) = running {
        for s in &mut services {
            s.running = Some(running.contains(&s.name));
        }
    }
    services
}

/// `coderoot` from `~/.config/sentry-devenv/config.ini`, `~` expanded.
pub(crate) fn devenv_coderoot() -> Option<PathBuf> {
    let home = directories::BaseDirs::new()?.home_dir().to_owned();
    let text = std::fs::read_to_string(home.join(".config/sentry-devenv/config.ini")).ok()?;
    let ini = crate::toolchain::ini::parse(&text).ok()?;
    let value = ini.section("devenv")?.get("coderoot")?.value.clone();
    Some(match value.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(value),
    })
}

fn children_with_config(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path().join("devservices").join("config.yml"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

/// No known service has that name.
#[derive(Debug, thiserror::Error)]
#[error("service `{name}` not found")]
pub struct UnknownService {
    pub name: String,
    pub known: Vec<String>,
}

impl UnknownService {
    pub fn hint(&self) -> String {
        if self.known.is_empty() {
            "no services are known here; run inside a repo with devservices/config.yml".to_owned()
        } else {
            format!("known services: {}", self.known.join(", "))
        }
    }
}

/// The config of the known service `name` (matched case-insensitively).
pub fn find(target: &Target, name: &str, observer: &dyn Observer) -> Result<Config, Error> {
    let known = known(target, observer);
    let Some(found) = known.iter().find(|k| k.name.eq_ignore_ascii_case(name)) else {
        return Err(UnknownService {
            name: name.to_owned(),
            known: known.iter().map(|k| k.name.clone()).collect(),
        }
        .into());
    };
    Ok(config::load(
        &found.config_file,
        &Variables::from_process(),
    )?)
}

#[derive(Debug, Clone)]
pub struct DependenciesOptions {
    pub target: Target,
    /// The service whose dependencies to show; this repo's when `None`.
    pub service: Option<String>,
    pub mode: String,
    pub fetch: FetchPolicy,
}

/// A service's dependency tree, as `list-dependencies` prints it.
#[derive(Serialize, Debug)]
pub struct Dependencies {
    pub service: String,
    pub mode: String,
    pub dependencies: Vec<DepNode>,
}

/// A dependency and what it pulls in.
#[derive(Serialize, Debug)]
pub struct DepNode {
    pub name: String,
    pub kind: &'static str,
    pub description: String,
    /// For a remote: the project it starts and in which mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<DepNode>,
}

pub fn dependencies(
    opts: &DependenciesOptions,
    observer: &dyn Observer,
) -> Result<Dependencies, Error> {
    let config = match &opts.service {
        None => opts.target.load(observer)?,
        Some(name) => find(&opts.target, name, observer)?,
    };
    let root = config.project().to_owned();
    let plan = context::resolve(config, &opts.mode, opts.fetch, observer)?;
    Ok(Dependencies {
        dependencies: tree(&plan, &root, &opts.mode, &mut Vec::new()),
        service: root,
        mode: opts.mode.clone(),
    })
}

fn tree(plan: &Plan, project: &str, mode: &str, path: &mut Vec<String>) -> Vec<DepNode> {
    let config = &plan.projects[project].config;
    let Some(mode_def) = config.meta.modes.get(mode) else {
        return Vec::new();
    };
    path.push(project.to_owned());
    let nodes = mode_def
        .dependencies
        .iter()
        .map(|name| {
            let dep = &config.meta.dependencies[name];
            match &dep.remote {
                Some(remote) => {
                    let target = plan
                        .projects
                        .iter()
                        .find_map(|(p, proj)| match &proj.source {
                            Source::Remote { repo_name, .. } if *repo_name == remote.repo_name => {
                                Some(p.clone())
                            }
                            _ => None,
                        });
                    let dependencies = match &target {
                        Some(t) if !path.contains(t) => tree(plan, t, &remote.mode, path),
                        _ => Vec::new(),
                    };
                    DepNode {
                        name: name.clone(),
                        kind: "remote",
                        description: dep.description.clone(),
                        project: target,
                        mode: Some(remote.mode.clone()),
                        dependencies,
                    }
                }
                None => DepNode {
                    name: name.clone(),
                    kind: if config.programs.contains_key(name) {
                        "program"
                    } else {
                        "container"
                    },
                    description: dep.description.clone(),
                    project: None,
                    mode: None,
                    dependencies: Vec::new(),
                },
            }
        })
        .collect();
    path.pop();
    nodes
}
