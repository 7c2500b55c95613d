//! `devrig toggle SERVICE [containerized|local]`: switch how a dependency
//! runs — as containers another service's plan starts (its remote mode), or
//! locally from its own checkout (its default mode, programs included). The
//! choice is kept in the state file; a running service is moved over. Its
//! containers keep their compose project either way, so their volumes (its
//! data) are the same ones.

use super::{CmdResult, GlobalArgs, context, down, exit, report, up};
use crate::config::{self, Variables};
use crate::state::{LocalRuntime, Store};
use crate::ui::{Diagnostic, Printer};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ToggleArgs {
    /// The service (its `service_name`; default: this repo's)
    pub service: Option<String>,
    /// Where it should run (default: the other one)
    #[arg(value_enum)]
    pub runtime: Option<Runtime>,
    #[command(flatten)]
    pub remote: context::RemoteArgs,
    #[command(flatten)]
    pub mirror: context::MirrorArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Runtime {
    Containerized,
    Local,
}

impl Runtime {
    fn as_str(self) -> &'static str {
        match self {
            Runtime::Containerized => "containerized",
            Runtime::Local => "local",
        }
    }
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: ToggleArgs) -> CmdResult {
    let service = match &args.service {
        Some(service) => service.clone(),
        None => context::load(printer, global)?.project().to_owned(),
    };
    let current = if context::peek_state().local.contains_key(&service) {
        Runtime::Local
    } else {
        Runtime::Containerized
    };
    let wanted = args.runtime.unwrap_or(match current {
        Runtime::Local => Runtime::Containerized,
        Runtime::Containerized => Runtime::Local,
    });
    if wanted == current {
        printer.status(
            "Unchanged",
            &format!("{service} already runs {}", wanted.as_str()),
        );
        return Ok(());
    }
    match wanted {
        Runtime::Local => to_local(printer, global, &args, &service),
        Runtime::Containerized => to_containerized(printer, global, &args, &service),
    }
}

fn to_local(printer: &Printer, global: &GlobalArgs, args: &ToggleArgs, service: &str) -> CmdResult {
    let service = &service.to_owned();
    let checkout = find_checkout(global, service)?;
    let store = context::open_store()?;
    let mut state = load(&store)?;
    let dependents: Vec<String> = state
        .services
        .iter()
        .filter(|(name, a)| *name != service && a.projects.contains(service))
        .map(|(name, _)| name.clone())
        .collect();
    let standalone = state.services.contains_key(service);
    let runtime = LocalRuntime {
        checkout: checkout.clone(),
    };
    state.local.insert(service.clone(), runtime.clone());
    // The dependents no longer run its containers; they rely on it.
    for name in &dependents {
        let active = state.services.get_mut(name).expect("listed above");
        active.projects.retain(|p| p != service);
        if !active.local.contains(service) {
            active.local.push(service.clone());
        }
    }
    store
        .save(&state)
        .map_err(|e| report::stack_error(&e.into()))?;
    drop(store);
    printer.status(
        "Toggled",
        &format!("{service} to local (from {})", checkout.display()),
    );
    if dependents.is_empty() || standalone {
        return Ok(());
    }
    // Running as containers for its dependents: stop those, start it from
    // its checkout. Same compose project, so the same volumes.
    stop_project_containers(printer, service)?;
    up::run(
        printer,
        &context::with_config(global, &runtime.config_file()),
        up::UpArgs {
            plan: context::PlanArgs {
                mode: "default".to_owned(),
                remote: args.remote.clone(),
                mirror: args.mirror.clone(),
            },
            skip_programs: Vec::new(),
        },
    )
}

fn to_containerized(
    printer: &Printer,
    global: &GlobalArgs,
    args: &ToggleArgs,
    service: &str,
) -> CmdResult {
    let service = &service.to_owned();
    let store = context::open_store()?;
    let mut state = load(&store)?;
    let runtime = state.local.remove(service);
    let dependents: Vec<(String, PathBuf, String)> = state
        .services
        .iter()
        .filter(|(name, a)| *name != service && a.local.contains(service))
        .map(|(name, a)| (name.clone(), a.config_file.clone(), a.mode.clone()))
        .collect();
    let standalone = state.services.contains_key(service);
    store
        .save(&state)
        .map_err(|e| report::stack_error(&e.into()))?;
    drop(store);
    printer.status("Toggled", &format!("{service} to containerized"));
    if dependents.is_empty() {
        return Ok(());
    }
    // Running from its checkout for its dependents: stop it there, then
    // let each dependent's plan start it as containers again.
    if let (true, Some(runtime)) = (standalone, runtime) {
        down::run(
            printer,
            &context::with_config(global, &runtime.config_file()),
            down::DownArgs {
                mode: None,
                remote: args.remote.clone(),
            },
        )?;
    }
    for (name, config_file, mode) in dependents {
        printer.status(
            "Restarting",
            &format!("{name} (mode {mode}) to run {service} as containers"),
        );
        up::run(
            printer,
            &context::with_config(global, &config_file),
            up::UpArgs {
                plan: context::PlanArgs {
                    mode,
                    remote: args.remote.clone(),
                    mirror: args.mirror.clone(),
                },
                skip_programs: Vec::new(),
            },
        )?;
    }
    Ok(())
}

fn load(store: &Store) -> Result<crate::state::State, Diagnostic> {
    use crate::state::Loaded;
    match store.load().map_err(|e| report::stack_error(&e.into()))? {
        Loaded::Found(state) => Ok(state),
        Loaded::Missing => Ok(Default::default()),
        Loaded::Corrupt(why) => Err(Diagnostic::new(
            format!(
                "the state file {} is corrupt: {why}",
                store.path().display()
            ),
            exit::FAILURE,
        )
        .hint(Some(
            "run `devrig status` or `devrig up` once to rebuild it from the engine".to_owned(),
        ))),
    }
}

/// The service's own checkout: this repo when it is the service, else a
/// directory next to this repo whose config names it (the layout devenv
/// sets up: ~/code/sentry beside ~/code/snuba).
fn find_checkout(global: &GlobalArgs, service: &str) -> Result<PathBuf, Diagnostic> {
    let config_file = context::config_path(global)?;
    let repo = config_file
        .parent()
        .and_then(Path::parent)
        .map(Path::to_owned)
        .unwrap_or_default();
    let names = |dir: &Path| -> bool {
        let file = dir.join("devservices").join("config.yml");
        file.is_file()
            && config::load(&file, &Variables::from_process()).is_ok_and(|c| c.project() == service)
    };
    if names(&repo) {
        return Ok(repo.canonicalize().unwrap_or(repo));
    }
    let parent = repo.parent().map(Path::to_owned).unwrap_or_default();
    let mut siblings: Vec<PathBuf> = std::fs::read_dir(&parent)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && *p != repo)
        .collect();
    siblings.sort();
    // The directory named like the service first: the usual clone.
    siblings.sort_by_key(|p| p.file_name().is_none_or(|n| n != service));
    siblings.into_iter().find(|dir| names(dir)).ok_or_else(|| {
        Diagnostic::new(
            format!("cannot find a checkout of {service} to run it locally"),
            exit::USAGE,
        )
        .hint(Some(format!(
            "looked for a devservices/config.yml with `service_name: {service}` in {} and the directories next to it; clone {service} there, or run `devrig toggle {service} local` inside its checkout",
            repo.display()
        )))
    })
}

/// Stops (keeps) every container of compose project `project`.
fn stop_project_containers(printer: &Printer, project: &str) -> CmdResult {
    let rt = context::runtime()?;
    rt.block_on(async {
        let engine = context::engine(printer).await?;
        let containers = engine
            .containers(&[project.to_owned()])
            .await
            .map_err(|e| report::engine_error(&e))?;
        for c in containers.iter().filter(|c| c.is_running()) {
            engine
                .stop(&c.name, Some(std::time::Duration::from_secs(10)))
                .await
                .map_err(|e| report::engine_error(&e))?;
            printer.status(
                "Stopped",
                &format!("{} (moving {project} to local)", c.name),
            );
        }
        Ok(())
    })
}
