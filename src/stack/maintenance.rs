//! `reset` (one service's data) and `purge` (everything devrig made).

use super::{Event, Observer, StackError};
use crate::engine::Engine;
use crate::engine::spec::{ContainerSpec, LABEL_PROJECT};
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
        engine.remove_volume(volume).await?;
        observer.event(Event::Resource {
            verb: "Removed",
            what: format!("volume {volume}"),
        });
    }
    Ok(())
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
        if let Some(p) = c.label(LABEL_PROJECT)
            && !projects.iter().any(|x| x == p)
        {
            projects.push(p.to_owned());
        }
        engine.stop(&c.name, Some(Duration::from_secs(10))).await?;
        engine.remove(&c.name).await?;
        observer.event(Event::Stopped {
            container: c.name.clone(),
        });
        purged.containers += 1;
    }
    let networks = engine.networks_labelled(LABEL_PROJECT).await?;
    let shared = engine.networks_named(SHARED_NETWORK).await?;
    for net in networks.iter().chain(shared.iter()) {
        let ours = net
            .labels
            .get(LABEL_PROJECT)
            .is_some_and(|p| projects.contains(p));
        if (ours || net.name == SHARED_NETWORK) && engine.remove_network(&net.name).await? {
            purged.networks += 1;
            observer.event(Event::Resource {
                verb: "Removed",
                what: format!("network {}", net.name),
            });
        }
    }
    if volumes {
        for vol in engine.volumes_labelled(LABEL_PROJECT).await? {
            if vol
                .labels
                .get(LABEL_PROJECT)
                .is_some_and(|p| projects.contains(p))
            {
                engine.remove_volume(&vol.name).await?;
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

/// The external network every devservices project joins.
const SHARED_NETWORK: &str = "devservices";
