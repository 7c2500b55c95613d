//! `toggle SERVICE [containerized|local]`: switch how a dependency runs —
//! as containers another service's plan starts (its remote mode), or
//! locally from its own checkout (its default mode, programs included). The
//! choice is kept in the state file; a running service is moved over. Its
//! containers keep their compose project either way, so their volumes (its
//! data) are the same ones.

use super::down::{self, DownOptions};
use super::up::{self, UpOptions};
use super::{Error, Event, Observer, Session, Target, context};
use crate::config::{self, Variables};
use crate::plan::remote::FetchPolicy;
use crate::state::{Loaded, LocalRuntime, State, Store};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Containerized,
    Local,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Containerized => "containerized",
            Runtime::Local => "local",
        }
    }

    fn other(self) -> Runtime {
        match self {
            Runtime::Local => Runtime::Containerized,
            Runtime::Containerized => Runtime::Local,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ToggleOptions {
    /// The repo toggle runs in: where the service's checkout is looked for.
    pub target: Target,
    /// The service (its `service_name`); this repo's when `None`.
    pub service: Option<String>,
    /// Where it should run; the other one when `None`.
    pub runtime: Option<Runtime>,
    /// How remotes are fetched when dependents are started again.
    pub fetch: FetchPolicy,
    pub mirror: Option<String>,
}

/// What toggle did.
#[derive(Debug, Clone)]
pub struct ToggleReport {
    pub service: String,
    /// Where it runs now.
    pub runtime: Runtime,
    /// False when it already ran there.
    pub changed: bool,
}

/// Why a service cannot be toggled.
#[derive(Debug, thiserror::Error)]
pub enum ToggleError {
    #[error("cannot find a checkout of {service} to run it locally")]
    NoCheckout { service: String, repo: PathBuf },
    #[error("the state file {} is corrupt: {why}", path.display())]
    CorruptState { path: PathBuf, why: String },
}

impl ToggleError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ToggleError::NoCheckout { service, repo } => format!(
                "looked for a devservices/config.yml with `service_name: {service}` in {} and the directories next to it; clone {service} there, or run `devrig toggle {service} local` inside its checkout",
                repo.display()
            ),
            ToggleError::CorruptState { .. } => {
                "run `devrig status` or `devrig up` once to rebuild it from the engine".to_owned()
            }
        })
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            ToggleError::NoCheckout { .. } => crate::exit::USAGE,
            ToggleError::CorruptState { .. } => crate::exit::FAILURE,
        }
    }
}

pub fn toggle(opts: &ToggleOptions, observer: &dyn Observer) -> Result<ToggleReport, Error> {
    let service = match &opts.service {
        Some(service) => service.clone(),
        None => opts.target.load(observer)?.project().to_owned(),
    };
    let current = if context::peek_state().local.contains_key(&service) {
        Runtime::Local
    } else {
        Runtime::Containerized
    };
    let wanted = opts.runtime.unwrap_or(current.other());
    if wanted != current {
        // One runtime and one engine connection for the stops and starts.
        let session = Session::interruptible()?;
        match wanted {
            Runtime::Local => to_local(&session, opts, &service, observer)?,
            Runtime::Containerized => to_containerized(&session, opts, &service, observer)?,
        }
    }
    Ok(ToggleReport {
        service,
        runtime: wanted,
        changed: wanted != current,
    })
}

fn to_local(
    session: &Session,
    opts: &ToggleOptions,
    service: &str,
    observer: &dyn Observer,
) -> Result<(), Error> {
    let service = &service.to_owned();
    let checkout = find_checkout(&opts.target, service)?;
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
        if let Some(active) = state.services.get_mut(name) {
            active.projects.retain(|p| p != service);
            if !active.local.contains(service) {
                active.local.push(service.clone());
            }
        }
    }
    store.save(&state)?;
    drop(store);
    observer.event(Event::Toggled {
        service: service.clone(),
        checkout: Some(checkout),
    });
    if dependents.is_empty() || standalone {
        return Ok(());
    }
    // Running as containers for its dependents: stop those, start it from
    // its checkout. Same compose project, so the same volumes.
    stop_project_containers(session, service, observer)?;
    up_repo(
        session,
        opts,
        runtime.config_file(),
        super::DEFAULT_MODE.to_owned(),
        observer,
    )
}

fn to_containerized(
    session: &Session,
    opts: &ToggleOptions,
    service: &str,
    observer: &dyn Observer,
) -> Result<(), Error> {
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
    store.save(&state)?;
    drop(store);
    observer.event(Event::Toggled {
        service: service.clone(),
        checkout: None,
    });
    if dependents.is_empty() {
        return Ok(());
    }
    // Running from its checkout for its dependents: stop it there, then
    // let each dependent's plan start it as containers again.
    if let (true, Some(runtime)) = (standalone, runtime) {
        down::down_in(
            session,
            &DownOptions {
                target: Target::file(runtime.config_file()),
                mode: None,
                refresh: matches!(opts.fetch, FetchPolicy::Refresh),
                exclude_local: false,
            },
            observer,
        )?;
    }
    for (name, config_file, mode) in dependents {
        observer.event(Event::Restarting {
            project: name,
            mode: mode.clone(),
            service: service.clone(),
        });
        up_repo(session, opts, config_file, mode, observer)?;
    }
    Ok(())
}

/// `up` of the repo whose config is `config_file`, programs included.
fn up_repo(
    session: &Session,
    opts: &ToggleOptions,
    config_file: PathBuf,
    mode: String,
    observer: &dyn Observer,
) -> Result<(), Error> {
    up::up_in(
        session,
        &UpOptions {
            target: Target::file(config_file),
            mode,
            fetch: opts.fetch,
            mirror: opts.mirror.clone(),
            programs: super::programs::Selection::all(),
            exclude_local: false,
            pull: Default::default(),
        },
        observer,
    )?;
    Ok(())
}

fn load(store: &Store) -> Result<State, Error> {
    match store.load()? {
        Loaded::Found(state) => Ok(state),
        Loaded::Missing => Ok(State::default()),
        Loaded::Corrupt(why) => Err(ToggleError::CorruptState {
            path: store.path().to_owned(),
            why,
        }
        .into()),
    }
}

/// The service's own checkout: this repo when it is the service, else the
/// repo under sentry-devenv's coderoot whose config names it (as
/// devservices finds it), else a directory next to this repo whose config
/// names it (the layout devenv sets up: ~/code/sentry beside ~/code/snuba).
fn find_checkout(target: &Target, service: &str) -> Result<PathBuf, Error> {
    if let Ok(found) = super::services::locate(service, &()) {
        let devservices = found.config_file.parent().unwrap_or(Path::new("/"));
        return Ok(devservices.parent().unwrap_or(devservices).to_owned());
    }
    let config_file = target.config_path()?;
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
        ToggleError::NoCheckout {
            service: service.to_owned(),
            repo,
        }
        .into()
    })
}

/// Stops (keeps) every running container of compose project `project`.
fn stop_project_containers(
    session: &Session,
    project: &str,
    observer: &dyn Observer,
) -> Result<(), Error> {
    session.block_on(async {
        let engine = session.engine(observer).await?;
        let containers = engine.containers(&[project.to_owned()]).await?;
        for c in containers.iter().filter(|c| c.is_running()) {
            engine.stop(&c.name, Some(Duration::from_secs(10))).await?;
            observer.event(Event::ContainerStopped {
                container: c.name.clone(),
                reason: format!("moving {project} to local"),
            });
        }
        Ok(())
    })
}
