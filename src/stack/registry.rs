//! Who uses what: the state file of active services, rebuilt from the
//! engine's labels when it is missing or corrupt.

use super::LABEL_MODE;
use crate::engine::spec::{LABEL_CONFIG_FILES, LABEL_PROJECT};
use crate::engine::{Engine, EngineError};
use crate::state::{Active, Loaded, State, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Why the state was rebuilt.
#[derive(Debug)]
pub enum Rebuilt {
    /// There was no state file (a first run, or it was deleted).
    Missing,
    /// It was not a state: why, as serde_json says it.
    Corrupt(String),
    /// It could not be read at all.
    Unreadable(std::io::Error),
}

/// Reads the state; when it is missing or unreadable, rebuilds it from the
/// running containers: a project whose config file is not a cached remote
/// is a top-level service, and its plan, resolved from cached remotes
/// ([`crate::plan::cached_projects`]), tells which projects it uses.
/// Returns the state and, when rebuilt, why.
pub async fn load(
    engine: &Engine,
    store: &Store,
    cache_root: &Path,
) -> Result<(State, Option<Rebuilt>), EngineError> {
    let reason = match store.load() {
        Ok(Loaded::Found(state)) => return Ok((state, None)),
        Ok(Loaded::Missing) => Rebuilt::Missing,
        Ok(Loaded::Corrupt(e)) => Rebuilt::Corrupt(e),
        Err(e) => Rebuilt::Unreadable(e.source),
    };
    let containers = engine.containers(&[]).await?;
    let mut roots: BTreeMap<String, (PathBuf, String)> = BTreeMap::new();
    // The remote dependencies that run: whose, the labels do not say.
    let mut remotes: BTreeSet<String> = BTreeSet::new();
    for c in containers.iter().filter(|c| c.is_running()) {
        let (Some(project), Some(file), Some(mode)) = (
            c.label(LABEL_PROJECT),
            c.label(LABEL_CONFIG_FILES),
            c.label(LABEL_MODE),
        ) else {
            continue;
        };
        let file = PathBuf::from(file);
        if file.starts_with(cache_root) {
            remotes.insert(project.to_owned());
            continue;
        }
        roots
            .entry(project.to_owned())
            .or_insert((file, mode.to_owned()));
    }
    let mut state = State::default();
    for (service, (file, mode)) in roots {
        let mode = mode.split(',').next().unwrap_or("default").to_owned();
        // A plan that cannot be resolved now (its config changed, its
        // remotes' cache gone) may use any running remote: it is counted
        // as using them all, so none is stopped under it.
        let projects = crate::plan::cached_projects(&file, &mode).unwrap_or_else(|| {
            std::iter::once(service.clone())
                .chain(remotes.iter().filter(|r| **r != service).cloned())
                .collect()
        });
        state.services.insert(
            service,
            Active {
                mode,
                config_file: file,
                projects,
                local: Vec::new(),
            },
        );
    }
    Ok((state, Some(reason)))
}
