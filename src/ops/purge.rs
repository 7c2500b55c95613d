//! `purge [SERVICE]`: stop supervised programs and remove what devrig (or
//! devservices) started. Everything: every container, their networks, the
//! dependency cache and devservices' state; volumes, and snapshots, only when asked. One
//! service: its containers (its compose project's, and, as devservices
//! matches them, those whose compose service has its name), its volumes,
//! its cached remote and its entries in the state.
//!
//! In two steps, so the command can say what would be deleted and ask
//! before any data goes: [`prepare`], then [`purge`]. What `devenv sync`
//! records in the same data directory is not devservices' state and stays.

use super::{Error, Observer, Session, StackEvents, context, programs};
use crate::plan::remote::RemoteCache;
use crate::stack::maintenance::{PurgeSet, Purged};
use crate::state::Store;
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct PurgeOptions {
    /// Only this service (a `service_name`, or a compose service name).
    pub service: Option<String>,
    /// Also delete the data volumes of the purged projects (always, for
    /// one service, as devservices does).
    pub volumes: bool,
    /// Also delete every snapshot on the engine (`devrig snapshot`).
    pub snapshots: bool,
}

/// What a purge would remove.
#[derive(Debug, Clone)]
pub struct PurgePlan {
    pub service: Option<String>,
    pub set: PurgeSet,
    /// Files and directories removed after the engine's resources.
    pub paths: Vec<PathBuf>,
    /// Every snapshot on the engine goes too.
    pub snapshots: bool,
}

impl PurgePlan {
    /// Whether it deletes data someone may want: volumes or snapshots.
    pub fn deletes_data(&self) -> bool {
        !self.set.volumes.is_empty() || self.snapshots
    }
}

pub fn prepare(opts: &PurgeOptions, observer: &dyn Observer) -> Result<PurgePlan, Error> {
    let volumes = opts.volumes || opts.service.is_some();
    let set = Session::new()?.block_on(async {
        let engine = context::engine(observer).await?;
        Ok::<_, Error>(
            crate::stack::maintenance::purge_set(&engine, opts.service.as_deref(), volumes).await?,
        )
    })?;
    let state = Store::default_dir();
    let paths = match &opts.service {
        None => vec![
            RemoteCache::default_root(),
            state.join("state.json"),
            state.join("state.lock"),
        ],
        Some(service) => super::services::cached_checkouts(service),
    };
    Ok(PurgePlan {
        service: opts.service.clone(),
        set,
        paths,
        snapshots: opts.snapshots,
    })
}

pub fn purge(plan: &PurgePlan, observer: &dyn Observer) -> Result<Purged, Error> {
    // Programs first, as `down` does for one repo.
    let supervised = crate::supervisor::client::supervised_projects();
    for project in supervised
        .iter()
        .filter(|p| plan.service.as_ref().is_none_or(|s| s == *p))
    {
        programs::shutdown(project, observer)?;
    }
    let purged = Session::new()?.block_on(async {
        let engine = context::engine(observer).await?;
        let purged =
            crate::stack::maintenance::purge(&engine, &plan.set, &StackEvents(observer)).await?;
        super::remote::purge(&engine, observer).await?;
        if plan.snapshots {
            super::snapshot::purge(&engine, observer).await?;
        }
        Ok::<_, Error>(purged)
    })?;
    if let Some(service) = &plan.service {
        forget(service)?;
    }
    for path in &plan.paths {
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
        match removed {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    action: "remove",
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    Ok(purged)
}

/// The service leaves the state: not active, not toggled to local.
fn forget(service: &str) -> Result<(), Error> {
    let store = context::open_store()?;
    let crate::state::Loaded::Found(mut state) = store.load()? else {
        return Ok(());
    };
    let before = state.clone();
    state.services.remove(service);
    state.local.remove(service);
    if state != before {
        store.save(&state)?;
    }
    Ok(())
}
