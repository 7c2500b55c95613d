//! Where snapshots live: on the engine, in volumes of devrig's own, so they
//! work the same against a remote engine and survive anything that only
//! removes compose projects (`reset`, `purge`, `docker compose down -v`).
//!
//! One save is one set of volumes sharing a save id: a data volume per
//! saved volume (its copy), then, last, an empty manifest volume whose
//! label holds the manifest. A set is a snapshot once its manifest exists,
//! so a save that is interrupted (even killed) never shows as a snapshot;
//! its data volumes are listed as incomplete and removed by the next save
//! of that name or by `snapshot rm`.

use super::SavedVolume;
use crate::engine::{Engine, EngineError, Resource};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Every snapshot volume carries it; its value is the snapshot's name.
pub const LABEL: &str = "devrig.snapshot";
/// The repo (its config's `service_name`) the snapshot belongs to.
const LABEL_REPO: &str = "devrig.snapshot.repo";
/// The save the volume was made by.
const LABEL_ID: &str = "devrig.snapshot.id";
/// `data` or `manifest`.
const LABEL_ROLE: &str = "devrig.snapshot.role";
/// A data volume's source volume.
const LABEL_SOURCE: &str = "devrig.snapshot.source";
/// The manifest volume's manifest, as JSON.
const LABEL_MANIFEST: &str = "devrig.snapshot.manifest";
/// Helper containers of a repo's snapshot operations.
pub const LABEL_HELPER: &str = "devrig.snapshot.helper";

/// What a snapshot is: what `list` shows, `export` writes into the
/// archive, and `restore` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The manifest format; an archive of a newer one is refused.
    pub format: u32,
    pub name: String,
    pub repo: String,
    pub mode: String,
    /// When it was saved, RFC 3339 in UTC.
    pub created: String,
    /// `project/service` of every container whose volumes it holds.
    pub services: Vec<String>,
    pub volumes: Vec<SavedVolume>,
    /// Bytes on disk, all volumes together.
    pub size: u64,
    /// The first 12 hex digits of the SHA-256 of the repo's config file.
    pub config_hash: String,
    /// The repo's git commit (`HEAD`), when it is a git checkout.
    pub commit: Option<String>,
    /// The devrig version that saved it.
    pub devrig: String,
    /// The save id its volumes share on this engine (not in archives).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
}

/// The manifest format this devrig writes.
pub const FORMAT: u32 = 1;

/// A save's volumes that never got a manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incomplete {
    pub name: String,
    pub repo: String,
    pub volumes: Vec<String>,
}

/// A snapshot name: what the engine accepts in a volume name, short enough
/// to read in a table.
pub fn valid_name(name: &str) -> bool {
    valid_volume_name(name) && name.len() <= 64
}

/// What the engine accepts as a volume name (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
pub fn valid_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A fresh save id: distinct for two saves of one name, also at once.
pub fn new_id() -> String {
    use sha2::{Digest, Sha256};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = format!("{}-{}", now.as_nanos(), std::process::id());
    Sha256::digest(seed.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The engine name of a save's manifest volume.
fn manifest_volume(repo: &str, name: &str, id: &str) -> String {
    format!("devrig-snapshot-{repo}-{name}-{id}")
}

/// The engine name of the copy of `source` in a save.
pub fn data_volume(repo: &str, name: &str, id: &str, source: &str) -> String {
    format!("{}_{source}", manifest_volume(repo, name, id))
}

/// Creates the data volume for `source` in save `id`.
pub async fn create_data(
    engine: &Engine,
    repo: &str,
    name: &str,
    id: &str,
    source: &str,
) -> Result<String, EngineError> {
    let volume = data_volume(repo, name, id, source);
    let labels = HashMap::from([
        (LABEL.to_owned(), name.to_owned()),
        (LABEL_REPO.to_owned(), repo.to_owned()),
        (LABEL_ID.to_owned(), id.to_owned()),
        (LABEL_ROLE.to_owned(), "data".to_owned()),
        (LABEL_SOURCE.to_owned(), source.to_owned()),
    ]);
    engine.create_labelled_volume(&volume, labels).await?;
    Ok(volume)
}

/// Makes `snapshot` a snapshot: its manifest volume, made last.
pub async fn commit(engine: &Engine, snapshot: &Snapshot) -> Result<(), EngineError> {
    let manifest = serde_json::to_string(snapshot).expect("a snapshot serializes");
    let labels = HashMap::from([
        (LABEL.to_owned(), snapshot.name.clone()),
        (LABEL_REPO.to_owned(), snapshot.repo.clone()),
        (LABEL_ID.to_owned(), snapshot.id.clone()),
        (LABEL_ROLE.to_owned(), "manifest".to_owned()),
        (LABEL_MANIFEST.to_owned(), manifest),
    ]);
    engine
        .create_labelled_volume(
            &manifest_volume(&snapshot.repo, &snapshot.name, &snapshot.id),
            labels,
        )
        .await
}

/// Every snapshot volume on the engine, sorted into snapshots (oldest
/// first) and incomplete saves.
pub async fn all(engine: &Engine) -> Result<(Vec<Snapshot>, Vec<Incomplete>), EngineError> {
    Ok(sort(engine.volumes_labelled(LABEL).await?))
}

fn sort(volumes: Vec<Resource>) -> (Vec<Snapshot>, Vec<Incomplete>) {
    // (repo, name, id) → (manifest, data volumes)
    type Save = (Option<Snapshot>, Vec<String>);
    let mut saves: BTreeMap<(String, String, String), Save> = BTreeMap::new();
    for volume in volumes {
        let label = |key: &str| volume.labels.get(key).cloned().unwrap_or_default();
        let key = (label(LABEL_REPO), label(LABEL), label(LABEL_ID));
        let entry = saves.entry(key).or_default();
        match volume.labels.get(LABEL_ROLE).map(String::as_str) {
            Some("manifest") => {
                entry.0 = volume
                    .labels
                    .get(LABEL_MANIFEST)
                    .and_then(|m| serde_json::from_str(m).ok());
            }
            _ => entry.1.push(volume.name.clone()),
        }
    }
    let mut snapshots = Vec::new();
    let mut incomplete = Vec::new();
    for ((repo, name, _), (manifest, data)) in saves {
        match manifest {
            Some(snapshot) => snapshots.push(snapshot),
            None => incomplete.push(Incomplete {
                name,
                repo,
                volumes: data,
            }),
        }
    }
    snapshots.sort_by(|a, b| a.created.cmp(&b.created));
    (snapshots, incomplete)
}

/// The newest snapshot `name` of `repo`.
pub async fn find(
    engine: &Engine,
    repo: &str,
    name: &str,
) -> Result<Option<Snapshot>, EngineError> {
    let (snapshots, _) = all(engine).await?;
    Ok(snapshots
        .into_iter()
        .rev()
        .find(|s| s.repo == repo && s.name == name))
}

/// The names of `repo`'s snapshots, for hints.
pub async fn names(engine: &Engine, repo: &str) -> Result<Vec<String>, EngineError> {
    let (snapshots, _) = all(engine).await?;
    let mut names: Vec<String> = snapshots
        .into_iter()
        .filter(|s| s.repo == repo)
        .map(|s| s.name)
        .collect();
    names.dedup();
    Ok(names)
}

/// Removes every volume of snapshot `name` of `repo` (every save of it,
/// complete or not), the manifests first, so it stops being listed before
/// its data goes; `keep` spares one save (the one that replaces the
/// others). Returns how many volumes went.
pub async fn remove(
    engine: &Engine,
    repo: &str,
    name: &str,
    keep: Option<&str>,
) -> Result<usize, EngineError> {
    let volumes: Vec<Resource> = engine
        .volumes_labelled(LABEL)
        .await?
        .into_iter()
        .filter(|v| {
            let is = |key: &str, value: &str| v.labels.get(key).is_some_and(|x| x == value);
            is(LABEL_REPO, repo) && is(LABEL, name) && keep.is_none_or(|id| !is(LABEL_ID, id))
        })
        .collect();
    remove_volumes(engine, volumes).await
}

/// Removes `volumes`, manifests first; returns how many there were.
async fn remove_volumes(engine: &Engine, mut volumes: Vec<Resource>) -> Result<usize, EngineError> {
    volumes.sort_by_key(|v| v.labels.get(LABEL_ROLE).is_none_or(|r| r != "manifest"));
    let mut removed = 0;
    for volume in &volumes {
        if engine.remove_volume(&volume.name).await? {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes every snapshot volume of the engine, and the helper containers
/// that may still hold some (after a killed devrig). Returns how many
/// volumes went.
pub async fn remove_everything(engine: &Engine) -> Result<usize, EngineError> {
    for id in engine.containers_labelled(LABEL_HELPER).await? {
        engine.remove_helper(&id).await?;
    }
    remove_volumes(engine, engine.volumes_labelled(LABEL).await?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str, labels: &[(&str, &str)]) -> Resource {
        Resource {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn snapshot(name: &str, id: &str, created: &str) -> Snapshot {
        Snapshot {
            format: FORMAT,
            name: name.to_owned(),
            repo: "app".to_owned(),
            mode: "default".to_owned(),
            created: created.to_owned(),
            services: vec!["app/postgres".to_owned()],
            volumes: Vec::new(),
            size: 0,
            config_hash: "0123456789ab".to_owned(),
            commit: None,
            devrig: "0.1.0".to_owned(),
            id: id.to_owned(),
        }
    }

    #[test]
    fn names_are_what_a_volume_name_may_hold() {
        for good in ["migrated", "v1.2", "before_upgrade", "a-b", "0"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "-x", ".x", "a/b", "a b", "ünï", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_save_without_its_manifest_is_incomplete_not_a_snapshot() {
        let done = snapshot("migrated", "aa", "2026-12-01T10:00:00Z");
        let manifest = serde_json::to_string(&done).unwrap();
        let (snapshots, incomplete) = sort(vec![
            volume(
                "m",
                &[
                    (LABEL, "migrated"),
                    (LABEL_REPO, "app"),
                    (LABEL_ID, "aa"),
                    (LABEL_ROLE, "manifest"),
                    (LABEL_MANIFEST, &manifest),
                ],
            ),
            volume(
                "d1",
                &[
                    (LABEL, "migrated"),
                    (LABEL_REPO, "app"),
                    (LABEL_ID, "aa"),
                    (LABEL_ROLE, "data"),
                ],
            ),
            volume(
                "d2",
                &[
                    (LABEL, "migrated"),
                    (LABEL_REPO, "app"),
                    (LABEL_ID, "bb"),
                    (LABEL_ROLE, "data"),
                ],
            ),
        ]);
        assert_eq!(snapshots, vec![done]);
        assert_eq!(
            incomplete,
            vec![Incomplete {
                name: "migrated".to_owned(),
                repo: "app".to_owned(),
                volumes: vec!["d2".to_owned()],
            }]
        );
    }

    #[test]
    fn volume_names_say_whose_copy_of_what_they_are() {
        assert_eq!(
            data_volume("app", "migrated", "1a2b3c4d", "app_postgres-data"),
            "devrig-snapshot-app-migrated-1a2b3c4d_app_postgres-data"
        );
    }
}
