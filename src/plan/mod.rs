//! From a repo's config and a mode to a plan: which compose projects start
//! which services, which programs run, and in what order.
//!
//! Resolution follows devservices 1.5.4: the selected mode's dependencies are
//! either local (a compose service or an `x-programs` entry) or remote; a
//! remote repo's config is loaded from its checkout and its own `remote.mode`
//! is resolved recursively. A remote is one compose project named by its
//! `service_name`, so a repo reached from several places is one node, with the
//! union of the modes asked of it. Programs run only for the top-level repo,
//! as in devservices.
//!
//! Ordering: compose `depends_on` orders containers within a project; every
//! program starts after all containers of the plan are ready. Projects do not
//! wait for each other: devservices starts them all at once, so configs never
//! rely on an order between them.

pub mod conflicts;
pub mod remote;

use crate::config::yaml::Pos;
use crate::config::{self, Config, ConfigError, Remote, Variables};
use crate::graph;
use indexmap::IndexMap;
use remote::{RemoteCache, RemoteError};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Plan {
    /// The top-level project (the repo devrig runs in).
    pub root: String,
    pub mode: String,
    pub projects: IndexMap<String, Project>,
    /// Units grouped so that each level depends only on earlier ones.
    pub levels: Vec<Vec<Unit>>,
    pub warnings: Vec<String>,
    /// Claims two services cannot both have; `up` refuses to start while any.
    pub conflicts: Vec<conflicts::Conflict>,
    /// Remote projects toggled to run locally (`devrig toggle`): reached,
    /// but started from their own checkout rather than by this plan, so
    /// they have no units here.
    pub local: Vec<String>,
    /// Programs whose `depends_on` narrows what they wait for: program →
    /// the containers it needs ready. Other programs wait for every
    /// container of the plan.
    pub needs: IndexMap<String, Vec<Unit>>,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub config: Config,
    pub source: Source,
    /// The modes asked of this project, in the order they were reached.
    pub modes: Vec<String>,
    /// Compose services to start: the modes' services and their `depends_on`.
    pub services: Vec<String>,
    pub programs: Vec<String>,
    /// Projects this one's selected modes depend on.
    pub remotes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    Local,
    Remote {
        repo_name: String,
        repo_link: String,
        branch: String,
        checkout: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    Container,
    Program,
}

/// One thing to start: a compose service or a program of a project.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Unit {
    pub project: String,
    pub name: String,
    pub kind: UnitKind,
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.project, self.name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{source}")]
    Remote {
        source: RemoteError,
        /// The `remote:` block that asked for it.
        requested_at: (PathBuf, Pos),
    },
    #[error("invalid config in remote `{repo_name}` (branch `{branch}`): {source}")]
    RemoteConfig {
        repo_name: String,
        branch: String,
        source: ConfigError,
    },
    #[error("mode `{mode}` does not exist for service `{project}`")]
    UnknownMode {
        project: String,
        mode: String,
        available: Vec<String>,
        /// Where the mode was asked for; `None` when it came from `--mode`.
        requested_at: Option<(PathBuf, Pos)>,
    },
    #[error("remote dependencies form a cycle: {}", cycle.join(" → "))]
    RemoteCycle { cycle: Vec<String> },
    #[error("`{repo_name}` names two different repositories: {first_url} and {second_url}")]
    RepoConflict {
        repo_name: String,
        first_url: String,
        first_at: (PathBuf, Pos),
        second_url: String,
        second_at: (PathBuf, Pos),
    },
    #[error(
        "remote `{repo_name}` has service_name `{project}`, which another repository in this plan also uses"
    )]
    ProjectConflict {
        repo_name: String,
        project: String,
        at: (PathBuf, Pos),
    },
}

impl PlanError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            PlanError::Config(c) => c.hint.clone(),
            PlanError::Remote { source, .. } => source.hint(),
            PlanError::RemoteConfig { repo_name, source, .. } => Some(source.hint.clone().unwrap_or_else(|| {
                format!("the config comes from {repo_name}'s own repository; fix it there, or pin another branch")
            })),
            PlanError::UnknownMode { project, available, .. } => {
                Some(format!("modes of `{project}`: {}", available.join(", ")))
            }
            PlanError::RemoteCycle { .. } => Some(
                "a repo cannot depend on itself through its remotes; remove one of these dependencies"
                    .to_owned(),
            ),
            PlanError::RepoConflict { .. } => Some(
                "give the two repositories different repo_name values, or point both at the same repo_link"
                    .to_owned(),
            ),
            PlanError::ProjectConflict { .. } => Some(
                "compose projects are named by service_name, which must be unique across the repos of a plan"
                    .to_owned(),
            ),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            PlanError::Remote {
                source: RemoteError::LocalChanges { .. } | RemoteError::OfflineMissing { .. },
                ..
            }
            | PlanError::Config(_)
            | PlanError::RemoteConfig { .. }
            | PlanError::UnknownMode { .. }
            | PlanError::RemoteCycle { .. }
            | PlanError::RepoConflict { .. }
            | PlanError::ProjectConflict { .. } => crate::exit::USAGE,
            PlanError::Remote { .. } => crate::exit::FAILURE,
        }
    }
}

/// The projects the plan of `file`'s service in `mode` uses, resolved from
/// cached remotes only, so it never waits on the network: what rebuilding
/// a lost state file needs. `None` when the config or a remote cannot be
/// read.
pub fn cached_projects(file: &std::path::Path, mode: &str) -> Option<Vec<String>> {
    let vars = Variables::from_process();
    let config = config::load(file, &vars).ok()?;
    let cache = RemoteCache {
        root: RemoteCache::default_root(),
        policy: remote::FetchPolicy::Offline,
    };
    let plan = resolve(config, mode, &cache, &vars).ok()?;
    Some(plan.projects.keys().cloned().collect())
}

/// What was asked for a project on one round of resolution.
struct Request {
    project_key: String,
    mode: String,
    requested_at: Option<(PathBuf, Pos)>,
}

/// Resolves `mode` of `root` into a plan, fetching remotes through `cache`.
pub fn resolve(
    root: Config,
    mode: &str,
    cache: &RemoteCache,
    vars: &Variables,
) -> Result<Plan, PlanError> {
    resolve_with_local(root, mode, cache, vars, &BTreeSet::new())
}

/// [`resolve`], with the projects in `local` toggled to run from their own
/// checkouts: their remote modes are not applied, so neither their
/// containers nor the remotes only they need are in the plan.
pub fn resolve_with_local(
    root: Config,
    mode: &str,
    cache: &RemoteCache,
    vars: &Variables,
    local: &BTreeSet<String>,
) -> Result<Plan, PlanError> {
    let root_name = root.project().to_owned();
    let mut projects: IndexMap<String, Project> = IndexMap::new();
    let mut warnings: Vec<String> = Vec::new();
    // repo_name → (canonical URL, the URL as written, where) for conflict checks.
    let mut repos: IndexMap<String, (String, String, (PathBuf, Pos))> = IndexMap::new();
    // repo_name → project name, once loaded.
    let mut repo_projects: IndexMap<String, String> = IndexMap::new();
    // project → the projects it depends on, to find cycles.
    let mut edges: IndexMap<String, Vec<String>> = IndexMap::new();

    projects.insert(
        root_name.clone(),
        Project {
            config: root,
            source: Source::Local,
            modes: Vec::new(),
            services: Vec::new(),
            programs: Vec::new(),
            remotes: Vec::new(),
        },
    );
    let mut frontier = vec![Request {
        project_key: root_name.clone(),
        mode: mode.to_owned(),
        requested_at: None,
    }];

    while !frontier.is_empty() {
        // Apply each request's mode; collect the remotes it needs.
        let mut wanted: IndexMap<String, (Remote, PathBuf, String)> = IndexMap::new();
        for request in frontier.drain(..) {
            let project = &projects[&request.project_key];
            if project.modes.contains(&request.mode) {
                continue;
            }
            let config = &project.config;
            let Some(mode_def) = config.meta.modes.get(&request.mode) else {
                return Err(PlanError::UnknownMode {
                    project: config.project().to_owned(),
                    mode: request.mode,
                    available: config.meta.modes.keys().cloned().collect(),
                    requested_at: request.requested_at,
                });
            };
            let is_root = request.project_key == root_name;
            let mut services = Vec::new();
            let mut programs = Vec::new();
            let mut remotes = Vec::new();
            for dep_name in &mode_def.dependencies {
                let dep = &config.meta.dependencies[dep_name];
                if let Some(remote) = &dep.remote {
                    let canonical = canonical_url(&remote.repo_link);
                    let here = (config.file.clone(), remote.pos);
                    match repos.get(&remote.repo_name) {
                        Some((known, first_url, first_at)) if *known != canonical => {
                            return Err(PlanError::RepoConflict {
                                repo_name: remote.repo_name.clone(),
                                first_url: first_url.clone(),
                                first_at: first_at.clone(),
                                second_url: remote.repo_link.clone(),
                                second_at: here,
                            });
                        }
                        Some(_) => {}
                        None => {
                            repos.insert(
                                remote.repo_name.clone(),
                                (canonical, remote.repo_link.clone(), here),
                            );
                        }
                    }
                    remotes.push(remote.repo_name.clone());
                    wanted
                        .entry(format!("{}\0{}", remote.repo_name, remote.mode))
                        .or_insert_with(|| {
                            (
                                remote.clone(),
                                config.file.clone(),
                                request.project_key.clone(),
                            )
                        });
                } else if config.programs.contains_key(dep_name) {
                    // devservices runs programs of the top-level repo only.
                    if is_root {
                        programs.push(dep_name.clone());
                    }
                } else {
                    services.push(dep_name.clone());
                }
            }
            let project = projects
                .get_mut(&request.project_key)
                .expect("requested project exists");
            project.modes.push(request.mode);
            for s in with_depends_on(&project.config, &services) {
                if !project.services.contains(&s) {
                    project.services.push(s);
                }
            }
            for p in programs {
                if !project.programs.contains(&p) {
                    project.programs.push(p);
                }
            }
            for repo in remotes {
                if !project.remotes.contains(&repo) {
                    project.remotes.push(repo);
                }
            }
        }

        // Fetch the repos not loaded yet, in parallel.
        let to_fetch: Vec<&(Remote, PathBuf, String)> = wanted
            .values()
            .filter(|(r, _, _)| !repo_projects.contains_key(&r.repo_name))
            .fold(Vec::new(), |mut acc, item| {
                if !acc
                    .iter()
                    .any(|(r, _, _): &&(Remote, PathBuf, String)| r.repo_name == item.0.repo_name)
                {
                    acc.push(item);
                }
                acc
            });
        let fetched: Vec<Result<(Remote, remote::Checkout), PlanError>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = to_fetch
                    .iter()
                    .map(|(remote, file, _)| {
                        scope.spawn(move || {
                            cache
                                .ensure(remote)
                                .map(|c| (remote.clone(), c))
                                .map_err(|source| PlanError::Remote {
                                    source,
                                    requested_at: (file.clone(), remote.pos),
                                })
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("fetch thread does not panic"))
                    .collect()
            });
        for result in fetched {
            let (remote, checkout) = result?;
            if let Some(warning) = checkout.stale_warning {
                warnings.push(warning);
            }
            let file = checkout.dir.join("devservices").join("config.yml");
            let config = config::load(&file, vars).map_err(|source| PlanError::RemoteConfig {
                repo_name: remote.repo_name.clone(),
                branch: remote.branch.clone(),
                source,
            })?;
            let project_name = config.project().to_owned();
            if projects.contains_key(&project_name) {
                if project_name == root_name {
                    // A remote that is the top-level repo itself: a cycle.
                    let requester = wanted
                        .values()
                        .find(|(r, _, _)| r.repo_name == remote.repo_name)
                        .map(|(_, _, p)| p.clone())
                        .unwrap_or_default();
                    let mut cycle = path_between(&edges, &root_name, &requester);
                    cycle.push(root_name.clone());
                    return Err(PlanError::RemoteCycle { cycle });
                }
                return Err(PlanError::ProjectConflict {
                    repo_name: remote.repo_name.clone(),
                    project: project_name,
                    at: (repos[&remote.repo_name].2).clone(),
                });
            }
            repo_projects.insert(remote.repo_name.clone(), project_name.clone());
            projects.insert(
                project_name,
                Project {
                    config,
                    source: Source::Remote {
                        repo_name: remote.repo_name.clone(),
                        repo_link: remote.repo_link.clone(),
                        branch: remote.branch.clone(),
                        checkout: checkout.dir,
                    },
                    modes: Vec::new(),
                    services: Vec::new(),
                    programs: Vec::new(),
                    remotes: Vec::new(),
                },
            );
        }

        // Record project edges, check for cycles, and queue the remotes' modes.
        for (remote, _, requester) in wanted.values() {
            let target = repo_projects[&remote.repo_name].clone();
            let list = edges.entry(requester.clone()).or_default();
            if !list.contains(&target) {
                list.push(target.clone());
            }
            if local.contains(&target) {
                continue;
            }
            frontier.push(Request {
                project_key: target,
                mode: remote.mode.clone(),
                requested_at: Some((projects[requester].config.file.clone(), remote.pos)),
            });
        }
        if let Some(cycle) = graph::find_cycle(edges.keys().cloned(), |p: &String| {
            edges.get(p).cloned().unwrap_or_default()
        }) {
            return Err(PlanError::RemoteCycle { cycle });
        }
    }

    // `remotes` were recorded by repo name; the plan speaks in project names.
    for project in projects.values_mut() {
        project.remotes = project
            .remotes
            .iter()
            .filter_map(|repo| repo_projects.get(repo).cloned())
            .collect();
    }
    let needs = program_needs(&projects[&root_name], &projects, &repo_projects);
    let levels = order(&projects, &needs)?;
    let local_reached: Vec<String> = projects
        .keys()
        .filter(|p| local.contains(*p) && **p != root_name)
        .cloned()
        .collect();
    Ok(Plan {
        root: root_name,
        mode: mode.to_owned(),
        local: local_reached,
        needs,
        conflicts: conflicts::find(&projects),
        projects,
        levels,
        warnings,
    })
}

/// `services` and everything they reach through `depends_on`, as
/// `docker compose up SERVICE…` would start, in the file's order.
fn with_depends_on(config: &Config, services: &[String]) -> Vec<String> {
    let mut wanted: Vec<String> = services.to_vec();
    let mut i = 0;
    while i < wanted.len() {
        if let Some(svc) = config.services.get(&wanted[i]) {
            for dep in svc.depends_on.keys() {
                if !wanted.contains(dep) {
                    wanted.push(dep.clone());
                }
            }
        }
        i += 1;
    }
    config
        .services
        .keys()
        .filter(|s| wanted.contains(s))
        .cloned()
        .collect()
}

/// The containers each narrowed program of the top-level repo waits for:
/// a service of its own repo, or every container of a remote dependency's
/// project (none when that one runs locally).
fn program_needs(
    root: &Project,
    projects: &IndexMap<String, Project>,
    repo_projects: &IndexMap<String, String>,
) -> IndexMap<String, Vec<Unit>> {
    let root_name = root.config.project();
    let mut needs = IndexMap::new();
    for program in &root.programs {
        let Some(def) = root.config.programs.get(program) else {
            continue;
        };
        if def.depends_on.is_empty() {
            continue;
        }
        let mut units = Vec::new();
        for dep in &def.depends_on {
            let remote = root
                .config
                .meta
                .dependencies
                .get(&dep.name)
                .and_then(|d| d.remote.as_ref());
            let (project, services): (&str, Vec<String>) = match remote {
                Some(remote) => match repo_projects
                    .get(&remote.repo_name)
                    .and_then(|p| projects.get_key_value(p))
                {
                    Some((name, p)) => (name.as_str(), p.services.clone()),
                    None => continue,
                },
                None => (
                    root_name,
                    with_depends_on(&root.config, std::slice::from_ref(&dep.name))
                        .into_iter()
                        .filter(|s| root.services.contains(s))
                        .collect(),
                ),
            };
            for service in services {
                let unit = Unit {
                    project: project.to_owned(),
                    name: service,
                    kind: UnitKind::Container,
                };
                if !units.contains(&unit) {
                    units.push(unit);
                }
            }
        }
        needs.insert(program.clone(), units);
    }
    needs
}

fn order(
    projects: &IndexMap<String, Project>,
    needs: &IndexMap<String, Vec<Unit>>,
) -> Result<Vec<Vec<Unit>>, PlanError> {
    let mut units = Vec::new();
    for (name, project) in projects {
        for service in &project.services {
            units.push(Unit {
                project: name.clone(),
                name: service.clone(),
                kind: UnitKind::Container,
            });
        }
    }
    let containers = units.clone();
    for (name, project) in projects {
        for program in &project.programs {
            units.push(Unit {
                project: name.clone(),
                name: program.clone(),
                kind: UnitKind::Program,
            });
        }
    }
    let deps = |unit: &Unit| -> Vec<Unit> {
        match unit.kind {
            UnitKind::Program => match needs.get(&unit.name) {
                // Only what the plan starts: a service outside the mode is
                // not waited for.
                Some(needed) => needed
                    .iter()
                    .filter(|u| containers.contains(u))
                    .cloned()
                    .collect(),
                None => containers.clone(),
            },
            UnitKind::Container => projects[&unit.project].config.services[&unit.name]
                .depends_on
                .keys()
                .map(|d| Unit {
                    project: unit.project.clone(),
                    name: d.clone(),
                    kind: UnitKind::Container,
                })
                .collect(),
        }
    };
    // depends_on cycles were refused when each file was loaded.
    graph::levels(&units, deps).map_err(|cycle| PlanError::RemoteCycle {
        cycle: cycle.iter().map(Unit::to_string).collect(),
    })
}

fn path_between(edges: &IndexMap<String, Vec<String>>, from: &str, to: &str) -> Vec<String> {
    // Breadth-first, so the cycle printed is the shortest one.
    let mut queue = std::collections::VecDeque::from([vec![from.to_owned()]]);
    let mut seen = std::collections::HashSet::from([from.to_owned()]);
    while let Some(path) = queue.pop_front() {
        let last = path.last().expect("paths are never empty");
        if last == to {
            return path;
        }
        for next in edges.get(last).into_iter().flatten() {
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                queue.push_back(longer);
            }
        }
    }
    vec![from.to_owned(), to.to_owned()]
}

/// One spelling per repository: `https://github.com/o/r.git`,
/// `git@github.com:o/r`, `ssh://git@github.com/o/r` all give `github.com/o/r`.
pub fn canonical_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    if let Some(path) = url.strip_prefix("file://") {
        return format!("file://{}", path.trim_end_matches('/'));
    }
    let without_scheme = match url.split_once("://") {
        Some((_, rest)) => rest.to_owned(),
        // scp-like syntax: user@host:path
        None => match url.split_once(':') {
            Some((host, path)) if !host.contains('/') => format!("{host}/{path}"),
            _ => return url.to_owned(),
        },
    };
    // Drop user info and any port-less `host:` left from scp-like forms.
    let without_user = match without_scheme.split_once('@') {
        Some((user, rest)) if !user.contains('/') => rest.to_owned(),
        _ => without_scheme,
    };
    let (host, path) = without_user.split_once('/').unwrap_or((&without_user, ""));
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    format!("{host}/{}", path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_spellings_of_one_repo_are_equal() {
        let expected = "github.com/getsentry/snuba";
        for url in [
            "https://github.com/getsentry/snuba",
            "https://github.com/getsentry/snuba.git",
            "https://github.com/getsentry/snuba/",
            "git@github.com:getsentry/snuba.git",
            "git@github.com:getsentry/snuba",
            "ssh://git@github.com/getsentry/snuba.git",
            "ssh://git@github.com:22/getsentry/snuba",
            "https://GitHub.com/getsentry/snuba",
        ] {
            assert_eq!(canonical_url(url), expected, "{url}");
        }
        assert_ne!(
            canonical_url("https://github.com/getsentry/relay"),
            expected
        );
        assert_eq!(
            canonical_url("file:///srv/repos/a.git"),
            "file:///srv/repos/a"
        );
    }
}
