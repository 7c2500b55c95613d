//! What most commands do first: find the config, load it, resolve a plan.

use super::GlobalArgs;
use super::report;
use crate::config::{self, Config, Variables};
use crate::plan::remote::{FetchPolicy, RemoteCache};
use crate::plan::{self, Plan};
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
    let plan = plan::resolve(config, mode, &cache, &Variables::from_process())
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
