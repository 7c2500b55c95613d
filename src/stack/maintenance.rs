//! `reset` (one service's data) and `purge` (everything devrig made).

use super::{Event, Observer, StackError};
use crate::engine::Engine;
use crate::engine::spec::{ContainerSpec, LABEL_PROJECT, LABEL_SERVICE};
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

/// Stops and removes the containers, then removes `volumes`.
pub async fn reset(
    engine: &Engine,
    containers: &[String],
    volumes: &[String],
    observer: &dyn Observer,
) -> Result<(), StackError> {
    for container in containers {
        observer.event(Event::Stopping {
            container: container.clone(),
        });
        engine
            .stop(container, Some(Duration::from_secs(10)))
            .await?;
        engine.remove(container).await?;
        observer.event(Event::Stopped {
            container: container.clone(),
        });
    }
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

/// What a purge would remove, found before anything is.
#[derive(Debug, Default, Clone)]
pub struct PurgeSet {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

/// Every container devrig started (and devservices' own, which carry the
/// same label) — or, for `service`, those of its compose project and, as
/// devservices matches them, those whose compose service has that name —
/// their networks (all of them only when purging everything, the shared
/// `devservices` network included), and with `volumes` their volumes.
pub async fn purge_set(
    engine: &Engine,
    service: Option<&str>,
    volumes: bool,
) -> Result<PurgeSet, StackError> {
    let (chosen, others): (Vec<_>, Vec<_>) =
        engine.containers(&[]).await?.into_iter().partition(|c| {
            service.is_none_or(|s| {
                c.label(LABEL_PROJECT) == Some(s) || c.label(LABEL_SERVICE) == Some(s)
            })
        });
    let mut projects: Vec<String> = Vec::new();
    for c in &chosen {
        if let Some(p) = c.label(LABEL_PROJECT)
            && !projects.iter().any(|x| x == p)
        {
            projects.push(p.to_owned());
        }
    }
    // A service's own project goes whole; the projects it only shares a
    // compose service name with keep their networks.
    let whole: Vec<&String> = projects
        .iter()
        .filter(|p| service.is_none_or(|s| s == p.as_str()))
        .collect();
    let mut networks: Vec<String> = engine
        .networks_labelled(LABEL_PROJECT)
        .await?
        .into_iter()
        .filter(|n| {
            n.labels
                .get(LABEL_PROJECT)
                .is_some_and(|p| whole.contains(&p))
        })
        .map(|n| n.name)
        .collect();
    if service.is_none() {
        networks.extend(
            engine
                .networks_named(SHARED_NETWORK)
                .await?
                .into_iter()
                .filter(|n| n.name == SHARED_NETWORK)
                .map(|n| n.name),
        );
    }
    let mut vols: Vec<String> = Vec::new();
    if volumes {
        // Only volumes compose or devrig made for a project (labelled):
        // one made by hand and adopted by name is the user's.
        for vol in engine.volumes_labelled(LABEL_PROJECT).await? {
            let of_whole = vol
                .labels
                .get(LABEL_PROJECT)
                .is_some_and(|p| whole.contains(&p));
            // What the chosen containers mount and nobody else does.
            let only_theirs = chosen.iter().any(|c| c.volumes.contains(&vol.name))
                && !others.iter().any(|o| o.volumes.contains(&vol.name));
            if of_whole || only_theirs {
                vols.push(vol.name);
            }
        }
    }
    Ok(PurgeSet {
        containers: chosen.into_iter().map(|c| c.name).collect(),
        networks,
        volumes: vols,
    })
}

/// Removes what `set` names: containers, then networks, then volumes.
pub async fn purge(
    engine: &Engine,
    set: &PurgeSet,
    observer: &dyn Observer,
) -> Result<Purged, StackError> {
    let mut purged = Purged::default();
    for name in &set.containers {
        engine.stop(name, Some(Duration::from_secs(10))).await?;
        engine.remove(name).await?;
        observer.event(Event::Stopped {
            container: name.clone(),
        });
        purged.containers += 1;
    }
    for name in &set.networks {
        if engine.remove_network(name).await? {
            purged.networks += 1;
            observer.event(Event::Resource {
                verb: "Removed",
                what: format!("network {name}"),
            });
        }
    }
    for name in &set.volumes {
        if engine.remove_volume(name).await? {
            purged.volumes += 1;
            observer.event(Event::Resource {
                verb: "Removed",
                what: format!("volume {name}"),
            });
        }
    }
    Ok(purged)
}

/// The external network every devservices project joins.
const SHARED_NETWORK: &str = "devservices";
