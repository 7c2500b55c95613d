//! `reset` (one service's data) and `purge` (everything devrig made).

use super::{Event, Observer, StackError};
use crate::engine::spec::{ContainerSpec, LABEL_PROJECT};
use crate::engine::{Engine, EngineError, is_not_found, label};
use bollard::query_parameters::{ListNetworksOptions, ListVolumesOptions, RemoveVolumeOptions};
use std::collections::HashMap;
use std::time::Duration;

/// Volumes `target` mounts that no other service in `all` mounts.
pub fn own_volumes<'a>(
    target: &'a ContainerSpec,
    all: &[ContainerSpec],
) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut own = Vec::new();
    let mut shared = Vec::new();
    for vol in &target.volumes {
        let used_elsewhere = all
            .iter()
            .filter(|s| s.name != target.name)
            .any(|s| s.volumes.iter().any(|v| v.name == vol.name));
        if used_elsewhere || vol.external {
            shared.push(vol.name.as_str());
        } else {
            own.push(vol.name.as_str());
        }
    }
    (own, shared)
}

/// Stops and removes the container, then removes `volumes`.
pub async fn reset(
    engine: &Engine,
    target: &ContainerSpec,
    volumes: &[&str],
    observer: &dyn Observer,
) -> Result<(), StackError> {
    observer.event(Event::Stopping {
        container: target.name.clone(),
    });
    engine
        .stop(&target.name, Some(Duration::from_secs(10)))
        .await?;
    engine.remove(&target.name).await?;
    observer.event(Event::Stopped {
        container: target.name.clone(),
    });
    for volume in volumes {
        remove_volume(engine, volume).await?;
        observer.event(Event::Resource {
            verb: "Removed",
            what: format!("volume {volume}"),
        });
    }
    Ok(())
}

async fn remove_volume(engine: &Engine, name: &str) -> Result<(), EngineError> {
    match engine
        .docker
        .remove_volume(name, None::<RemoveVolumeOptions>)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(EngineError::api(format!("removing volume {name}"), e)),
    }
}

/// What `purge` removed.
#[derive(Debug, Default)]
pub struct Purged {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

/// Removes every container devrig started (and devservices' own, which
/// carry the same label), their networks, and with `volumes` their volumes.
pub async fn purge(
    engine: &Engine,
    volumes: bool,
    observer: &dyn Observer,
) -> Result<Purged, StackError> {
    let mut purged = Purged::default();
    let containers = engine.containers(&[]).await?;
    let mut projects: Vec<String> = Vec::new();
    for c in &containers {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_owned());
        let Some(name) = name else { continue };
        if let Some(p) = label(c, LABEL_PROJECT)
            && !projects.iter().any(|x| x == p)
        {
            projects.push(p.to_owned());
        }
        engine.stop(&name, Some(Duration::from_secs(10))).await?;
        engine.remove(&name).await?;
        observer.event(Event::Stopped { container: name });
        purged.containers += 1;
    }
    let mut filters: HashMap<String, Vec<String>> = HashMap::new();
    filters.insert("label".to_owned(), vec![LABEL_PROJECT.to_owned()]);
    let networks = engine
        .docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .map_err(|e| EngineError::api("listing networks", e))?;
    let shared = engine
        .docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(HashMap::from([(
                "name".to_owned(),
                vec!["devservices".to_owned()],
            )])),
        }))
        .await
        .map_err(|e| EngineError::api("listing networks", e))?;
    for net in networks.iter().chain(shared.iter()) {
        let ours = net
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_PROJECT))
            .is_some_and(|p| projects.contains(p));
        let name = net.name.clone().unwrap_or_default();
        if ours || name == "devservices" {
            match engine.docker.remove_network(&name).await {
                Ok(()) => {
                    purged.networks += 1;
                    observer.event(Event::Resource {
                        verb: "Removed",
                        what: format!("network {name}"),
                    });
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(EngineError::api(format!("removing network {name}"), e).into());
                }
            }
        }
    }
    if volumes {
        let list = engine
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| EngineError::api("listing volumes", e))?;
        for vol in list.volumes.unwrap_or_default() {
            if vol
                .labels
                .get(LABEL_PROJECT)
                .is_some_and(|p| projects.contains(p))
            {
                remove_volume(engine, &vol.name).await?;
                purged.volumes += 1;
                observer.event(Event::Resource {
                    verb: "Removed",
                    what: format!("volume {}", vol.name),
                });
            }
        }
    }
    Ok(purged)
}
