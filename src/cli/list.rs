//! `list-services` and `list-dependencies`.

use super::context::{self, RemoteArgs};
use super::{CmdResult, GlobalArgs, exit, report};
use crate::config::{self, Config, Variables};
use crate::plan::remote::RemoteCache;
use crate::plan::{Plan, Source};
use crate::ui::{Diagnostic, Printer, Style};
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ListServicesArgs {}

#[derive(Args, Debug)]
pub struct ListDependenciesArgs {
    /// The service whose dependencies to show (default: this repo's)
    pub service: Option<String>,
    /// The mode to resolve
    #[arg(long, short, default_value = "default")]
    pub mode: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Serialize, Debug)]
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

/// Services devrig can see without the network: this repo, the repos beside
/// it under sentry-devenv's coderoot (as devservices looks them up), and the
/// remotes already in the dependency cache.
fn known_services(printer: &Printer, global: &GlobalArgs) -> Vec<KnownService> {
    let vars = Variables::from_process();
    let mut candidates: Vec<(PathBuf, &'static str)> = Vec::new();
    if let Ok(path) = context::config_path(global) {
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
            Err(e) => printer.warn(&format!("skipping {}: {e}", e.location())),
        }
    }
    out
}

/// `coderoot` from `~/.config/sentry-devenv/config.ini`, where devservices finds repos.
fn devenv_coderoot() -> Option<PathBuf> {
    let home = directories::BaseDirs::new()?.home_dir().to_owned();
    let text = std::fs::read_to_string(home.join(".config/sentry-devenv/config.ini")).ok()?;
    let mut in_devenv = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_devenv = line == "[devenv]";
        } else if in_devenv
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "coderoot"
        {
            let value = value.trim();
            return Some(match value.strip_prefix("~/") {
                Some(rest) => home.join(rest),
                None => PathBuf::from(value),
            });
        }
    }
    None
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

pub fn services(printer: &Printer, global: &GlobalArgs, _args: ListServicesArgs) -> CmdResult {
    let mut services = known_services(printer, global);
    mark_running(&mut services);
    if printer.json {
        printer.json(&services);
        return Ok(());
    }
    if services.is_empty() {
        printer.line("No services found.");
        return Ok(());
    }
    let width = services.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in &services {
        let state = match s.running {
            Some(true) => printer.paint(Style::Green, "running"),
            Some(false) => printer.paint(Style::Dim, "stopped"),
            None => String::new(),
        };
        printer.line(&format!(
            "{}  {state:<7}  {}  {}",
            printer.paint(Style::Bold, &format!("{:<width$}", s.name)),
            printer.paint(Style::Dim, &format!("[{}]", s.modes.join(", "))),
            s.config_file.display()
        ));
    }
    Ok(())
}

/// Marks which services have a running container; a listing must not fail
/// or wait because no engine runs, so an unreachable engine leaves it unset.
fn mark_running(services: &mut [KnownService]) {
    let Ok(rt) = super::context::runtime() else {
        return;
    };
    let running: Option<Vec<String>> = rt.block_on(async {
        let engine = crate::engine::Engine::connect().await.ok()?;
        let containers = engine.containers(&[]).await.ok()?;
        Some(
            containers
                .iter()
                .filter(|c| c.is_running())
                .filter_map(|c| {
                    c.label(crate::engine::spec::LABEL_PROJECT)
                        .map(str::to_owned)
                })
                .collect(),
        )
    });
    if let Some(running) = running {
        for s in services {
            s.running = Some(running.contains(&s.name));
        }
    }
}

/// A dependency and what it pulls in, as printed by `list-dependencies`.
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

#[derive(Serialize)]
struct DependenciesOutput {
    service: String,
    mode: String,
    dependencies: Vec<DepNode>,
}

pub fn dependencies(
    printer: &Printer,
    global: &GlobalArgs,
    args: ListDependenciesArgs,
) -> CmdResult {
    let config = match &args.service {
        None => context::load(printer, global)?,
        Some(name) => find_service(printer, global, name)?,
    };
    let root = config.project().to_owned();
    let plan = context::resolve(printer, config, &args.mode, args.remote.read_policy())?;
    let out = DependenciesOutput {
        dependencies: tree(&plan, &root, &args.mode, &mut Vec::new()),
        service: root,
        mode: args.mode,
    };
    if printer.json {
        printer.json(&out);
        return Ok(());
    }
    printer.line(&format!(
        "{} {}",
        printer.paint(Style::Bold, &out.service),
        printer.paint(Style::Dim, &format!("(mode {})", out.mode))
    ));
    print_tree(printer, &out.dependencies, "");
    Ok(())
}

fn print_tree(printer: &Printer, nodes: &[DepNode], prefix: &str) {
    for (i, node) in nodes.iter().enumerate() {
        let last = i + 1 == nodes.len();
        let branch = if last { "└── " } else { "├── " };
        let detail = match (node.kind, &node.project, &node.mode) {
            ("remote", Some(project), Some(mode)) => format!("remote: {project}, mode {mode}"),
            (kind, _, _) => kind.to_owned(),
        };
        let description = if node.description.is_empty() {
            String::new()
        } else {
            format!(" — {}", node.description)
        };
        printer.line(&format!(
            "{prefix}{branch}{} {}{description}",
            printer.paint(Style::Bold, &node.name),
            printer.paint(Style::Dim, &format!("({detail})")),
        ));
        let child_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
        print_tree(printer, &node.dependencies, &child_prefix);
    }
}

fn find_service(printer: &Printer, global: &GlobalArgs, name: &str) -> Result<Config, Diagnostic> {
    let known = known_services(printer, global);
    let Some(found) = known.iter().find(|k| k.name.eq_ignore_ascii_case(name)) else {
        let names: Vec<&str> = known.iter().map(|k| k.name.as_str()).collect();
        return Err(
            Diagnostic::new(format!("service `{name}` not found"), exit::USAGE).hint(Some(
                if names.is_empty() {
                    "no services are known here; run inside a repo with devservices/config.yml"
                        .to_owned()
                } else {
                    format!("known services: {}", names.join(", "))
                },
            )),
        );
    };
    config::load(&found.config_file, &Variables::from_process())
        .map_err(|e| report::config_error(&e))
}
