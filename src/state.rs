//! Which top-level services are up, in which mode, and which compose
//! projects each of them uses: what lets `down` keep a shared dependency
//! (kafka used by both sentry and snuba) running for the other user.
//!
//! One JSON file under the XDG data dir (`state.json`, a [`crate::store`]):
//! written atomically (temp file + rename) while holding a lock file, so two
//! concurrent `up`s are serialized. If the file is lost or corrupt the
//! caller rebuilds it from the engine's labels.

use crate::store::{self, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Top-level service → what it started.
    pub services: BTreeMap<String, Active>,
    /// Container → the run devrig last saw ready (its probe passed).
    #[serde(default)]
    pub ready: BTreeMap<String, Ready>,
    /// Services toggled to run locally (`devrig toggle`); absent means
    /// containerized, as in devservices.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub local: BTreeMap<String, LocalRuntime>,
}

/// A container run that devrig's probe found ready: the container (its id)
/// and the start it was in. While the container runs that same start, it
/// is still the ready one (`status` says so without probing again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ReadyOnDisk")]
pub struct Ready {
    /// The container's id (empty in a state written before ids were kept).
    #[serde(default)]
    pub id: String,
    /// Its start, as the engine wrote it (RFC 3339).
    pub started_at: String,
    /// When the probe passed (RFC 3339, UTC); empty when not known.
    #[serde(default)]
    pub ready_at: String,
}

impl Ready {
    /// Whether `id` running since `started_at` is this ready run.
    pub fn is_run(&self, id: &str, started_at: &str) -> bool {
        self.started_at == started_at && (self.id.is_empty() || self.id == id)
    }
}

/// A state file of an earlier devrig kept only the start time.
#[derive(Deserialize)]
#[serde(untagged)]
enum ReadyOnDisk {
    StartedAt(String),
    Full {
        #[serde(default)]
        id: String,
        started_at: String,
        #[serde(default)]
        ready_at: String,
    },
}

impl From<ReadyOnDisk> for Ready {
    fn from(on_disk: ReadyOnDisk) -> Ready {
        match on_disk {
            ReadyOnDisk::StartedAt(started_at) => Ready {
                id: String::new(),
                started_at,
                ready_at: String::new(),
            },
            ReadyOnDisk::Full {
                id,
                started_at,
                ready_at,
            } => Ready {
                id,
                started_at,
                ready_at,
            },
        }
    }
}

/// A service that runs from its own checkout instead of as another
/// service's containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalRuntime {
    /// The checkout it runs from (where its `devservices/config.yml` is).
    pub checkout: PathBuf,
}

impl LocalRuntime {
    pub fn config_file(&self) -> PathBuf {
        self.checkout.join("devservices").join("config.yml")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Active {
    pub mode: String,
    pub config_file: PathBuf,
    /// Compose projects this service's plan uses, itself included.
    pub projects: Vec<String>,
    /// Services it relies on that run locally, from their own checkouts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local: Vec<String>,
}

impl State {
    /// Active services other than `except` that rely on `service` running
    /// locally.
    pub fn local_users(&self, service: &str, except: &str) -> Vec<String> {
        self.services
            .iter()
            .filter(|(name, active)| {
                name.as_str() != except
                    && name.as_str() != service
                    && active.local.iter().any(|l| l == service)
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Projects used by any active service other than `except`.
    pub fn used_by_others(&self, except: &str) -> BTreeMap<String, Vec<String>> {
        let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (service, active) in &self.services {
            if service == except {
                continue;
            }
            for project in &active.projects {
                used.entry(project.clone())
                    .or_default()
                    .push(service.clone());
            }
        }
        used
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot use the state file {}: {source}", path.display())]
pub struct StateError {
    pub path: PathBuf,
    pub source: io::Error,
}

impl StateError {
    /// `no space left on …` for a full disk, else its permissions.
    pub fn hint(&self) -> String {
        store::hint_for(&self.path, &self.source, "DEVRIG_STATE_DIR")
    }
}

impl From<StoreError> for StateError {
    fn from(StoreError { path, source }: StoreError) -> Self {
        StateError { path, source }
    }
}

/// The state file and its lock; the lock is held while this value lives.
pub struct Store(store::Store<State>);

/// What reading found: the state, or that it must be rebuilt.
pub type Loaded = store::Loaded<State>;

const FILE: &str = "state.json";

impl Store {
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("DEVRIG_STATE_DIR") {
            return PathBuf::from(dir);
        }
        directories::ProjectDirs::from("", "", "devrig")
            .map(|d| d.data_dir().to_owned())
            .unwrap_or_else(|| std::env::temp_dir().join("devrig-state"))
    }

    /// Opens (and locks) the state in `dir`, waiting for another devrig.
    pub fn open(dir: &Path) -> Result<Store, StateError> {
        Ok(Store(store::Store::open(dir.join(FILE))?))
    }

    /// [`Store::open`], unless `cancelled` says to stop waiting first.
    pub fn open_unless(dir: &Path, cancelled: &dyn Fn() -> bool) -> Result<Store, StateError> {
        Ok(Store(store::Store::open_unless(dir.join(FILE), cancelled)?))
    }

    /// Reads the state in `dir` without the lock: the file is only ever
    /// replaced whole (by rename), so a reader sees one version or the other.
    pub fn peek(dir: &Path) -> Loaded {
        store::Store::peek(&dir.join(FILE))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    pub fn load(&self) -> Result<Loaded, StateError> {
        Ok(self.0.load()?)
    }

    pub fn save(&self, state: &State) -> Result<(), StateError> {
        Ok(self.0.save(state)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(matches!(store.load().unwrap(), Loaded::Missing));
        let mut state = State::default();
        state.services.insert(
            "sentry".into(),
            Active {
                mode: "default".into(),
                config_file: "/src/sentry/devservices/config.yml".into(),
                projects: vec!["sentry".into(), "kafka".into()],
                local: Vec::new(),
            },
        );
        state.services.insert(
            "snuba".into(),
            Active {
                mode: "default".into(),
                config_file: "/src/snuba/devservices/config.yml".into(),
                projects: vec!["snuba".into(), "kafka".into()],
                local: Vec::new(),
            },
        );
        store.save(&state).unwrap();
        match store.load().unwrap() {
            Loaded::Found(s) => assert_eq!(s, state),
            _ => panic!("state not found"),
        }
        assert_eq!(
            state.used_by_others("sentry").get("kafka"),
            Some(&vec!["snuba".to_owned()])
        );
        assert_eq!(state.used_by_others("sentry").get("sentry"), None);
        // An earlier devrig's state: `ready` held start times only.
        std::fs::write(
            store.path(),
            r#"{"services": {}, "ready": {"app-db-1": "2026-11-26T09:30:05.1Z"}}"#,
        )
        .unwrap();
        let Loaded::Found(old) = store.load().unwrap() else {
            panic!("an old state reads")
        };
        assert!(old.ready["app-db-1"].is_run("any-id", "2026-11-26T09:30:05.1Z"));
        std::fs::write(store.path(), "{not json").unwrap();
        assert!(matches!(store.load().unwrap(), Loaded::Corrupt(_)));
    }
}
