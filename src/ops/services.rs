//! The services devrig knows (`list-services`) and one service's
//! dependency tree (`list-dependencies`).
//!
//! Services are found without the network: this repo, the repos directly
//! under sentry-devenv's coderoot (`[devenv] coderoot` in
//! `~/.config/sentry-devenv/config.ini`, where devservices looks them up),
//! and the remotes already in the dependency cache.

use super::{Error, Event, Observer, Target, context};
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
    /// Whether it is up (`up` started it, and no `down` since).
    pub running: bool,
    /// The mode it runs in, when it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// Every service devrig can see (see the module documentation); a config
/// that cannot be read is skipped with a warning naming its place.
pub fn known(target: &Target, observer: &dyn Observer) -> Vec<KnownService> {
    let mut candidates = checkouts(target);
    candidates.extend(
        children_with_config(&RemoteCache::default_root())
            .into_iter()
            .map(|p| (p, "cache")),
    );
    read_all(candidates, observer)
}

/// The user's checkouts: this repo (the target's, when it names one by
/// its config or is found from the current directory) and the repos
/// directly under the coderoot.
fn checkouts(target: &Target) -> Vec<(PathBuf, &'static str)> {
    let mut candidates: Vec<(PathBuf, &'static str)> = Vec::new();
    let here = match &target.config {
        Some(config) => Some(config.clone()),
        None => context::discover().ok(),
    };
    candidates.extend(here.map(|p| (p, "repo")));
    if let Some(coderoot) = devenv_coderoot() {
        candidates.extend(
            children_with_config(&coderoot)
                .into_iter()
                .map(|p| (p, "repo")),
        );
    }
    candidates
}

/// Each candidate's config read, the first of each service name kept.
fn read_all(
    candidates: Vec<(PathBuf, &'static str)>,
    observer: &dyn Observer,
) -> Vec<KnownService> {
    let vars = Variables::from_process();
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
                    running: false,
                    mode: None,
                })
            }
            Ok(_) => {}
            Err(e) => observer.event(Event::Warning(format!("skipping {}: {e}", e.location()))),
        }
    }
    out
}

/// The checkout of service `name` (matched case-insensitively), as
/// devservices finds `up snuba`'s: this repo, or a repo directly under the
/// coderoot.
pub fn locate(name: &str, observer: &dyn Observer) -> Result<KnownService, Error> {
    let found = read_all(checkouts(&Target::default()), observer);
    match found.iter().find(|k| k.name.eq_ignore_ascii_case(name)) {
        Some(service) => Ok(service.clone()),
        None => Err(UnknownService {
            name: name.to_owned(),
            known: found.iter().map(|k| k.name.clone()).collect(),
            looked_in: looked_in(),
        }
        .into()),
    }
}

/// Where services are looked for, as an unknown name's hint says it.
fn looked_in() -> String {
    match devenv_coderoot() {
        Some(root) => format!(
            "the current repo and the repos under the coderoot {} (from {DEVENV_CONFIG})",
            root.display()
        ),
        None => format!(
            "the current repo only: no coderoot is set (`[devenv] coderoot` in {DEVENV_CONFIG})"
        ),
    }
}

/// sentry-devenv's config, where the coderoot is set.
const DEVENV_CONFIG: &str = "~/.config/sentry-devenv/config.ini";

/// The services that are up (as devservices' `list-services`), or with
/// `all` every service [`known`] too, each marked running or not. Up is
/// what the state says (`up` recorded it, no `down` since), so a listing
/// needs no engine.
pub fn list(target: &Target, all: bool, observer: &dyn Observer) -> Vec<KnownService> {
    let state = context::peek_state();
    let mut services = known(target, observer);
    for service in &mut services {
        if let Some(active) = state.services.get(&service.name) {
            service.running = true;
            service.mode = Some(active.mode.clone());
        }
    }
    // Up, but from a checkout none of the places above has.
    for (name, active) in &state.services {
        if !services.iter().any(|s| &s.name == name) {
            services.push(KnownService {
                name: name.clone(),
                modes: vec![active.mode.clone()],
                config_file: active.config_file.clone(),
                origin: "repo",
                running: true,
                mode: Some(active.mode.clone()),
            });
        }
    }
    if !all {
        services.retain(|s| s.running);
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

/// The dependency cache's checkouts of service `name`, found as
/// devservices finds them: by the `service_name` in their config (the
/// directory is the remote's `repo_name`, which need not be the same).
pub fn cached_checkouts(name: &str) -> Vec<PathBuf> {
    let vars = Variables::from_process();
    children_with_config(&RemoteCache::default_root())
        .into_iter()
        .filter(|file| config::load(file, &vars).is_ok_and(|c| c.project() == name))
        .filter_map(|file| Some(file.parent()?.parent()?.to_owned()))
        .collect()
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
    /// Where they were looked for, in words.
    pub looked_in: String,
}

impl UnknownService {
    pub fn hint(&self) -> String {
        if self.known.is_empty() {
            format!(
                "no services were found (looked in {}); run inside a repo with devservices/config.yml, or clone the service under the coderoot",
                self.looked_in
            )
        } else {
            format!(
                "services found: {} (looked in {})",
                self.known.join(", "),
                self.looked_in
            )
        }
    }
}

/// The config of the known service `name` (matched case-insensitively),
/// cached remotes included.
pub fn find(target: &Target, name: &str, observer: &dyn Observer) -> Result<Config, Error> {
    let known = known(target, observer);
    let Some(found) = known.iter().find(|k| k.name.eq_ignore_ascii_case(name)) else {
        return Err(UnknownService {
            name: name.to_owned(),
            known: known.iter().map(|k| k.name.clone()).collect(),
            looked_in: format!("{} and the dependency cache", looked_in()),
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
