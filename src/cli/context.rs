//! What most commands do first: find the config, load it, resolve a plan.

use super::GlobalArgs;
use super::report;
use crate::config::{self, Config, Variables};
use crate::plan::remote::{FetchPolicy, RemoteCache};
use crate::plan::{self, Plan};
use crate::state::{Loaded, State, Store};
use crate::ui::{Diagnostic, Printer};
use clap::Args;
use std::path::{Path, PathBuf};

/// How remote dependencies may be fetched, for commands that resolve a plan.
#[derive(Args, Debug, Clone, Default)]
pub struct RemoteArgs {
    /// Fetch every remote dependency again, even if a cached copy exists
    #[arg(long, conflicts_with = "offline")]
    pub refresh: bool,
    /// Never touch the network: use cached remote dependencies only
    #[arg(long)]
    pub offline: bool,
}

impl RemoteArgs {
    /// Read commands never wait on the network while a cached copy exists.
    pub fn read_policy(&self) -> FetchPolicy {
        if self.offline {
            FetchPolicy::Offline
        } else if self.refresh {
            FetchPolicy::Refresh
        } else {
            FetchPolicy::CacheFirst
        }
    }
}

/// `-c PATH`, else `devservices/config.yml` here or in the nearest parent.
pub fn config_path(global: &GlobalArgs) -> Result<PathBuf, Diagnostic> {
    if let Some(path) = &global.config {
        return Ok(path.clone());
    }
    let cwd = std::env::current_dir().map_err(|e| {
        Diagnostic::new(
            format!("cannot read the current directory: {e}"),
            super::exit::FAILURE,
        )
    })?;
    find_config(&cwd).ok_or_else(|| {
        Diagnostic::new(
            format!(
                "no devservices/config.yml in {} or any parent directory",
                cwd.display()
            ),
            super::exit::USAGE,
        )
        .hint(Some(
            "run devrig inside a repo that has one, pass -c PATH, or create one with `devrig init`"
                .to_owned(),
        ))
    })
}

fn find_config(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join("devservices").join("config.yml"))
        .find(|candidate| candidate.is_file())
}

pub fn load(printer: &Printer, global: &GlobalArgs) -> Result<Config, Diagnostic> {
    let path = config_path(global)?;
    let config =
        config::load(&path, &Variables::from_process()).map_err(|e| report::config_error(&e))?;
    for warning in &config.warnings {
        printer.warn(&warning.to_string());
    }
    Ok(config)
}

pub fn resolve(
    printer: &Printer,
    config: Config,
    mode: &str,
    policy: FetchPolicy,
) -> Result<Plan, Diagnostic> {
    let cache = RemoteCache {
        root: RemoteCache::default_root(),
        policy,
    };
    printer.debug(&format!(
        "remote dependencies cached in {}",
        cache.root.display()
    ));
    let local: std::collections::BTreeSet<String> = peek_state().local.into_keys().collect();
    let plan = plan::resolve_with_local(config, mode, &cache, &Variables::from_process(), &local)
        .map_err(|e| report::plan_error(&e))?;
    for warning in &plan.warnings {
        printer.warn(warning);
    }

    for (name, project) in &plan.projects {
        if name != &plan.root {
            for warning in &project.config.warnings {
                printer.warn(&warning.to_string());
            }
        }
    }
    Ok(plan)
}

/// The state as it is now, read without its lock (so commands that hold it
/// may still resolve plans). A missing or unreadable state reads as empty:
/// nothing active, every service containerized.
pub fn peek_state() -> State {
    match Store::peek(&Store::default_dir()) {
        Loaded::Found(state) => state,
        Loaded::Missing | Loaded::Corrupt(_) => State::default(),
    }
}

/// Opens the state, waiting for (then holding) its lock.
pub fn open_store() -> Result<Store, Diagnostic> {
    Store::open(&Store::default_dir()).map_err(|e| report::stack_error(&e.into()))
}

/// Opens the state and loads it, rebuilt from the engine's labels when it
/// is lost or corrupt. The lock is held while the store lives: two `up`s
/// (or an `up` and a `down`) at once are serialized.
pub async fn locked_state(
    printer: &Printer,
    engine: &crate::engine::Engine,
) -> Result<(Store, State), Diagnostic> {
    let store = open_store()?;
    let (state, rebuilt) =
        crate::stack::registry::load(engine, &store, &RemoteCache::default_root(), &plan_projects)
            .await
            .map_err(|e| report::engine_error(&e))?;
    if let Some(note) = rebuilt {
        printer.debug(&note);
    }
    Ok((store, state))
}

/// `global` with another config file: for running a command on another
/// repo (a local dependency's checkout, a dependent service).
pub fn with_config(global: &GlobalArgs, config: &Path) -> GlobalArgs {
    GlobalArgs {
        config: Some(config.to_owned()),
        ..global.clone()
    }
}

/// What names a plan on the engine: the mode, how remotes may be fetched,
/// and where images come from.
#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// The mode
    #[arg(long, short, default_value = "default")]
    pub mode: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub mirror: MirrorArgs,
}

impl PlanArgs {
    /// Loads the config and resolves the mode, remotes as read commands use them.
    pub fn plan(&self, printer: &Printer, global: &GlobalArgs) -> Result<Plan, Diagnostic> {
        let config = load(printer, global)?;
        resolve(printer, config, &self.mode, self.remote.read_policy())
    }

    pub fn specs(&self, plan: &Plan) -> Vec<crate::engine::spec::ContainerSpec> {
        crate::stack::specs(plan, self.mirror.registry_mirror.as_deref())
    }
}

/// Where images are pulled from, for air-gapped CI.
#[derive(Args, Debug, Clone, Default)]
pub struct MirrorArgs {
    /// Pull every image through this registry (HOST[:PORT]) instead of its own
    #[arg(long, env = "DEVRIG_REGISTRY_MIRROR", value_name = "HOST[:PORT]")]
    pub registry_mirror: Option<String>,
}

/// A runtime for the engine commands: one thread is plenty, the work is I/O.
pub fn runtime() -> Result<tokio::runtime::Runtime, Diagnostic> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Diagnostic::new(
                format!("cannot start the async runtime: {e}"),
                super::exit::FAILURE,
            )
        })
}

pub async fn engine(printer: &Printer) -> Result<crate::engine::Engine, Diagnostic> {
    let engine = crate::engine::Engine::connect()
        .await
        .map_err(|e| report::engine_error(&e))?;
    printer.debug(&format!(
        "engine {} (Docker {}, API {}) via {}",
        engine.endpoint.address, engine.server_version, engine.api_version, engine.endpoint.source
    ));
    Ok(engine)
}

/// The remote freshness `up` uses: refresh at most once per TTL
/// (`DEVRIG_REMOTE_TTL` seconds, default 15 minutes).
pub fn up_policy(remote: &RemoteArgs) -> FetchPolicy {
    if remote.offline {
        return FetchPolicy::Offline;
    }
    if remote.refresh {
        return FetchPolicy::Refresh;
    }
    let ttl = std::env::var("DEVRIG_REMOTE_TTL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15 * 60);
    FetchPolicy::RefreshOlderThan(std::time::Duration::from_secs(ttl))
}

/// The projects a service's plan uses, resolved from cached remotes only:
/// used to rebuild the state file, where the network must not be needed.
pub fn plan_projects(file: &Path, mode: &str) -> Option<Vec<String>> {
    let vars = Variables::from_process();
    let config = config::load(file, &vars).ok()?;
    let cache = RemoteCache {
        root: RemoteCache::default_root(),
        policy: FetchPolicy::Offline,
    };
    let plan = plan::resolve(config, mode, &cache, &vars).ok()?;
    Some(plan.projects.keys().cloned().collect())
}

/// The plan's containers named by `names` (a service, `project/service`, or a
/// container name); all of them when `names` is empty.
pub fn select(
    specs: Vec<crate::engine::spec::ContainerSpec>,
    names: &[String],
) -> Result<Vec<crate::engine::spec::ContainerSpec>, Diagnostic> {
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
            let known: Vec<String> = specs
                .iter()
                .map(|s| format!("{}/{}", s.project, s.service))
                .collect();
            return Err(Diagnostic::new(
                format!("no service `{name}` in this plan"),
                super::exit::USAGE,
            )
            .hint(Some(format!("services: {}", known.join(", ")))));
        }
        chosen.extend(found);
    }
    Ok(chosen)
}

/// The plan's conflicts as warnings: `config` shows them, `up` refuses.
pub fn warn_conflicts(printer: &Printer, plan: &Plan) {
    for conflict in &plan.conflicts {
        printer.warn(&format!(
            "{conflict}: {}:{} and {}:{}; {}",
            conflict.first.file.display(),
            conflict.first.pos,
            conflict.second.file.display(),
            conflict.second.pos,
            conflict.hint
        ));
    }
}

/// The repo: where `devservices/config.yml` is found, else the current
/// directory (the toolchain commands work in repos without one).
pub fn repo_root(global: &GlobalArgs) -> Result<PathBuf, Diagnostic> {
    match config_path(global) {
        Ok(file) => {
            let file = std::path::absolute(&file).unwrap_or(file);
            let devservices = file.parent().unwrap_or(Path::new("/"));
            Ok(devservices.parent().unwrap_or(devservices).to_owned())
        }
        Err(_) => std::env::current_dir().map_err(|e| {
            Diagnostic::new(
                format!("cannot read the current directory: {e}"),
                super::exit::FAILURE,
            )
        }),
    }
}
