//! What most operations do first: find the config, load it, resolve a plan,
//! reach the engine, read the state.

use super::{Error, Event, Observer};
use crate::config::{self, Config, Variables};
use crate::engine::Engine;
use crate::engine::spec::ContainerSpec;
use crate::plan::remote::{FetchPolicy, RemoteCache};
use crate::plan::{self, Plan};
use crate::stack::registry::Rebuilt;
use crate::state::{Loaded, State, Store};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// Which repo an operation works on: the config file given with `-c PATH`,
/// else the repo of the service named on the command line (devservices'
/// `up snuba`: a checkout under sentry-devenv's coderoot, or this repo),
/// else `devservices/config.yml` in the current directory or the nearest
/// parent that has one.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub config: Option<PathBuf>,
    /// A service name (`service_name`), matched case-insensitively.
    pub service: Option<String>,
}

impl Target {
    /// The repo whose config is `file` (a local dependency's checkout, a
    /// dependent service).
    pub fn file(file: impl Into<PathBuf>) -> Target {
        Target {
            config: Some(file.into()),
            service: None,
        }
    }

    /// The config file; warnings about the repos looked through (a config
    /// under the coderoot that cannot be read) are dropped.
    pub fn config_path(&self) -> Result<PathBuf, Error> {
        self.locate(&())
    }

    /// The config file; warnings about the repos looked through go to
    /// `observer`.
    pub fn locate(&self, observer: &dyn Observer) -> Result<PathBuf, Error> {
        match (&self.config, &self.service) {
            (Some(config), Some(service)) => Err(ContextError::ServiceAndConfig {
                service: service.clone(),
                config: config.clone(),
            }
            .into()),
            (Some(config), None) => Ok(config.clone()),
            (None, Some(service)) => Ok(super::services::locate(service, observer)?.config_file),
            (None, None) => Ok(discover()?),
        }
    }

    /// The repo: where its config is, else the current directory (the
    /// toolchain commands work in repos without one).
    pub fn repo_root(&self) -> Result<PathBuf, Error> {
        match self.config_path() {
            Ok(file) => {
                let file = std::path::absolute(&file).unwrap_or(file);
                let devservices = file.parent().unwrap_or(Path::new("/"));
                Ok(devservices.parent().unwrap_or(devservices).to_owned())
            }
            Err(Error::Context(ContextError::NoConfig { dir })) => Ok(dir),
            Err(e) => Err(e),
        }
    }

    /// Loads the config; its warnings go to `observer`.
    pub fn load(&self, observer: &dyn Observer) -> Result<Config, Error> {
        let path = self.locate(observer)?;
        let config = config::load(&path, &Variables::from_process())?;
        for warning in &config.warnings {
            observer.event(Event::Warning(warning.to_string()));
        }
        Ok(config)
    }

    /// Loads the config and resolves `mode`, else the mode the repo runs
    /// in (else `default`).
    pub fn plan_running(
        &self,
        mode: Option<&str>,
        policy: FetchPolicy,
        observer: &dyn Observer,
    ) -> Result<Plan, Error> {
        let state = peek_state();
        let config = self.load(observer)?;
        let mode = mode_or_running(mode, config.project(), &state);
        resolve_in(config, &mode, policy, &state, observer)
    }

    /// Loads the config and resolves `mode`.
    pub fn plan(
        &self,
        mode: &str,
        policy: FetchPolicy,
        observer: &dyn Observer,
    ) -> Result<Plan, Error> {
        let config = self.load(observer)?;
        resolve(config, mode, policy, observer)
    }
}

/// `devservices/config.yml` in the current directory or the nearest parent.
pub fn discover() -> Result<PathBuf, ContextError> {
    let cwd = std::env::current_dir().map_err(ContextError::Cwd)?;
    find_config(&cwd).ok_or(ContextError::NoConfig { dir: cwd })
}

/// Why an operation could not find what to work on.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot read the current directory: {0}")]
    Cwd(#[source] std::io::Error),
    #[error("no devservices/config.yml in {} or any parent directory", dir.display())]
    NoConfig { dir: PathBuf },
    #[error("no service `{name}` in this plan")]
    NoSuchService { name: String, known: Vec<String> },
    #[error(
        "both a service name (`{service}`) and a config file (-c {}) say which repo to use",
        config.display()
    )]
    ServiceAndConfig { service: String, config: PathBuf },
}

impl ContextError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ContextError::Cwd(_) => None,
            ContextError::NoConfig { .. } => Some(
                "run devrig inside a repo that has one, name a service (`devservices up snuba`), pass -c PATH, or create one with `devrig init`"
                    .to_owned(),
            ),
            ContextError::NoSuchService { known, .. } => {
                Some(format!("services: {}", known.join(", ")))
            }
            ContextError::ServiceAndConfig { .. } => Some(
                "give one: the service name (its checkout is found under the coderoot) or -c PATH"
                    .to_owned(),
            ),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            ContextError::Cwd(_) => crate::exit::FAILURE,
            ContextError::NoConfig { .. }
            | ContextError::NoSuchService { .. }
            | ContextError::ServiceAndConfig { .. } => crate::exit::USAGE,
        }
    }
}

fn find_config(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join("devservices").join("config.yml"))
        .find(|candidate| candidate.is_file())
}

/// Resolves `mode` of `config`, remotes fetched as `policy` says; the
/// plan's warnings (and those of every remote's config) go to `observer`.
pub fn resolve(
    config: Config,
    mode: &str,
    policy: FetchPolicy,
    observer: &dyn Observer,
) -> Result<Plan, Error> {
    resolve_in(config, mode, policy, &peek_state(), observer)
}

/// [`resolve`] with the state already read (the services toggled to
/// local come from it).
pub fn resolve_in(
    config: Config,
    mode: &str,
    policy: FetchPolicy,
    state: &State,
    observer: &dyn Observer,
) -> Result<Plan, Error> {
    let cache = RemoteCache {
        root: RemoteCache::default_root(),
        policy,
    };
    observer.event(Event::Note(format!(
        "remote dependencies cached in {}",
        cache.root.display()
    )));
    let local: std::collections::BTreeSet<String> = state.local.keys().cloned().collect();
    let plan = plan::resolve_with_local(config, mode, &cache, &Variables::from_process(), &local)?;
    for warning in &plan.warnings {
        observer.event(Event::Warning(warning.clone()));
    }
    for (name, project) in &plan.projects {
        if name != &plan.root {
            for warning in &project.config.warnings {
                observer.event(Event::Warning(warning.to_string()));
            }
        }
    }
    Ok(plan)
}

/// `mode`, else the mode `project` runs in (as the state says), else
/// `default`: what `status` and `logs` look at unless told.
pub fn mode_or_running(mode: Option<&str>, project: &str, state: &State) -> String {
    mode.map(str::to_owned)
        .or_else(|| state.services.get(project).map(|a| a.mode.clone()))
        .unwrap_or_else(|| super::DEFAULT_MODE.to_owned())
}

/// How fresh remotes must be for commands that only read them: a cached
/// copy is used without waiting on the network.
pub fn read_policy(refresh: bool, offline: bool) -> FetchPolicy {
    if offline {
        FetchPolicy::Offline
    } else if refresh {
        FetchPolicy::Refresh
    } else {
        FetchPolicy::CacheFirst
    }
}

/// How fresh remotes must be for `up`: refreshed at most once per TTL
/// (`DEVRIG_REMOTE_TTL` seconds, default 15 minutes).
pub fn up_policy(refresh: bool, offline: bool) -> FetchPolicy {
    if offline {
        return FetchPolicy::Offline;
    }
    if refresh {
        return FetchPolicy::Refresh;
    }
    let ttl = std::env::var("DEVRIG_REMOTE_TTL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15 * 60);
    FetchPolicy::RefreshOlderThan(std::time::Duration::from_secs(ttl))
}

/// The state as it is now, read without its lock (so operations that hold
/// it may still resolve plans). A missing or unreadable state reads as
/// empty: nothing active, every service containerized.
pub fn peek_state() -> State {
    match Store::peek(&Store::default_dir()) {
        Loaded::Found(state) => state,
        Loaded::Missing | Loaded::Corrupt(_) => State::default(),
    }
}

/// Opens the state, waiting for (then holding) its lock.
pub fn open_store() -> Result<Store, Error> {
    Ok(Store::open(&Store::default_dir())?)
}

/// Opens the state and loads it, rebuilt from the engine's labels when it
/// is lost or corrupt. The lock is held while the store lives: two `up`s
/// (or an `up` and a `down`) at once are serialized; a cancelled `cancel`
/// (Ctrl-C) ends the wait for the other one.
pub async fn locked_state(
    engine: &Engine,
    cancel: &CancellationToken,
    observer: &dyn Observer,
) -> Result<(Store, State), Error> {
    let store = match Store::open_unless(&Store::default_dir(), &|| cancel.is_cancelled()) {
        Ok(store) => store,
        Err(e) if e.source.kind() == std::io::ErrorKind::Interrupted => {
            return Err(Error::Interrupted {
                kept: "nothing was started: another devrig held the state; run `up` again",
            });
        }
        Err(e) => return Err(e.into()),
    };
    let (state, rebuilt) =
        crate::stack::registry::load(engine, &store, &RemoteCache::default_root()).await?;
    if let Some(why) = rebuilt {
        observer.event(rebuilt_event(store.path(), &why));
    }
    Ok((store, state))
}

/// What the user hears of a rebuilt state: a missing file is what a first
/// run finds (a note, under `-v`); a file that was there and could not be
/// used lost what it knew, which is always said, in one line.
fn rebuilt_event(path: &Path, why: &Rebuilt) -> Event {
    const REBUILT: &str = "rebuilt it from the running containers";
    let path = path.display();
    match why {
        Rebuilt::Missing => Event::Note(format!("no state file at {path}: {REBUILT}")),
        Rebuilt::Corrupt(e) => Event::Warning(format!(
            "the state file {path} was corrupt ({e}); {REBUILT}"
        )),
        Rebuilt::Unreadable(e) => Event::Warning(format!(
            "cannot read the state file {path} ({e}); {REBUILT}"
        )),
    }
}

/// Connects to the engine; where it is goes to `observer` as a note.
pub async fn engine(observer: &dyn Observer) -> Result<Engine, Error> {
    let engine = Engine::connect().await?;
    observer.event(Event::Note(format!(
        "engine {} (Docker {}, API {}) via {}",
        engine.endpoint.address, engine.server_version, engine.api_version, engine.endpoint.source
    )));
    Ok(engine)
}

/// The plan's containers named by `names` (a service, `project/service`, or
/// a container name); all of them when `names` is empty.
pub fn select(specs: Vec<ContainerSpec>, names: &[String]) -> Result<Vec<ContainerSpec>, Error> {
    if names.is_empty() {
        return Ok(specs);
    }
    let mut chosen = Vec::new();
    for name in names {
        let found: Vec<_> = specs
            .iter()
            .filter(|s| {
                s.service == *name
                    || s.name == *name
                    || format!("{}/{}", s.project, s.service) == *name
            })
            .cloned()
            .collect();
        if found.is_empty() {
            return Err(ContextError::NoSuchService {
                name: name.clone(),
                known: specs
                    .iter()
                    .map(|s| format!("{}/{}", s.project, s.service))
                    .collect(),
            }
            .into());
        }
        chosen.extend(found);
    }
    Ok(chosen)
}
