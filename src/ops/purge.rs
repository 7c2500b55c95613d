//! `purge`: stop every supervised program and remove everything devrig
//! started, its networks, the dependency cache and the state. Volumes, and
//! snapshots, only when asked.

use super::{Error, Observer, Session, StackEvents, context, programs};
use crate::plan::remote::RemoteCache;
use crate::stack::maintenance::Purged;
use crate::state::Store;

#[derive(Debug, Clone, Default)]
pub struct PurgeOptions {
    /// Also delete the data volumes of the purged projects.
    pub volumes: bool,
    /// Also delete every snapshot on the engine (`devrig snapshot`).
    pub snapshots: bool,
}

pub fn purge(opts: &PurgeOptions, observer: &dyn Observer) -> Result<Purged, Error> {
    // Every repo's programs first, as `down` does for one.
    for project in crate::supervisor::client::supervised_projects() {
        programs::shutdown(&project, observer)?;
    }
    let purged = Session::new()?.block_on(async {
        let engine = context::engine(observer).await?;
        let purged =
            crate::stack::maintenance::purge(&engine, opts.volumes, &StackEvents(observer)).await?;
        if opts.snapshots {
            super::snapshot::purge(&engine, observer).await?;
        }
        Ok::<_, Error>(purged)
    })?;
    for dir in [RemoteCache::default_root(), Store::default_dir()] {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|source| Error::Io {
                action: "remove",
                path: dir.clone(),
                source,
            })?;
        }
    }
    Ok(purged)
}
