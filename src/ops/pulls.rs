//! Which images `up` pulls: the policy (`--pull`), and the record of when a
//! moving tag (`latest`, `nightly`, no tag) was last checked against its
//! registry, so a developer's `:nightly` does not silently stay weeks old
//! (devservices pulls on every online `up`) while a second `up` within the
//! TTL (`DEVRIG_PULL_TTL` seconds, default 15 minutes, as remotes) still
//! makes no request.
//!
//! The record is `pulls.json` beside the state: image reference → when it
//! was last checked (Unix seconds). Losing it only costs one re-check.

use super::Error;
use crate::engine::pull::is_moving;
use crate::engine::spec::ContainerSpec;
use crate::stack::up::Pulls;
use crate::state::Store;
use crate::store::{self, Loaded};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `--pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Missing images, and moving tags at most once per TTL.
    #[default]
    Moving,
    /// Every image, every time.
    Always,
    /// Only images that are not here.
    Missing,
    /// None: an image that is not here is an error.
    Never,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    /// Image reference → Unix time of its last successful check.
    checked: BTreeMap<String, u64>,
}

fn ttl() -> Duration {
    let secs = std::env::var("DEVRIG_PULL_TTL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15 * 60);
    Duration::from_secs(secs)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn path() -> std::path::PathBuf {
    Store::default_dir().join("pulls.json")
}

/// What `policy` pulls of `specs`' images, the record read for `Moving`.
pub fn plan(policy: PullPolicy, specs: &[ContainerSpec]) -> Pulls {
    let images = specs.iter().map(|s| s.image.clone());
    match policy {
        PullPolicy::Never => Pulls::default(),
        PullPolicy::Missing => Pulls {
            missing: true,
            ..Pulls::default()
        },
        PullPolicy::Always => Pulls {
            missing: true,
            recheck: images.collect(),
        },
        PullPolicy::Moving => {
            let record = match store::Store::<Record>::peek(&path()) {
                Loaded::Found(record) => record,
                Loaded::Missing | Loaded::Corrupt(_) => Record::default(),
            };
            let (now, ttl) = (now_secs(), ttl().as_secs());
            Pulls {
                missing: true,
                recheck: images
                    .filter(|image| is_moving(image))
                    .filter(|image| {
                        record
                            .checked
                            .get(image)
                            .is_none_or(|at| now.saturating_sub(*at) >= ttl)
                    })
                    .collect(),
            }
        }
    }
}

/// Records that `images` were checked now.
pub fn checked(images: &[String]) -> Result<(), Error> {
    if images.is_empty() {
        return Ok(());
    }
    let store = store::Store::<Record>::open(path()).map_err(crate::state::StateError::from)?;
    let mut record = match store.load().map_err(crate::state::StateError::from)? {
        Loaded::Found(record) => record,
        Loaded::Missing | Loaded::Corrupt(_) => Record::default(),
    };
    let now = now_secs();
    for image in images {
        record.checked.insert(image.clone(), now);
    }
    store
        .save(&record)
        .map_err(crate::state::StateError::from)?;
    Ok(())
}
