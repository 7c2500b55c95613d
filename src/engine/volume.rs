//! Volumes beyond what `up` makes: ones with labels of devrig's own (the
//! snapshots' copies), who mounts a volume (so that data is never replaced
//! under a container that uses it), and what a container mounts.

use super::{Container, Engine, EngineError, is_not_found};
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::ListContainersOptions;
use std::collections::HashMap;

/// One mount of a container, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// `volume`, `bind`, `tmpfs`, …
    pub kind: String,
    /// The volume's name (for a volume).
    pub name: Option<String>,
    pub writable: bool,
}

impl Engine {
    /// Every mount of container `name` (named and anonymous volumes, binds,
    /// tmpfs).
    pub async fn mounts(&self, name: &str) -> Result<Vec<MountInfo>, EngineError> {
        let inspect = self
            .docker
            .inspect_container(name, None)
            .await
            .map_err(|e| EngineError::api(&self.endpoint, format!("inspecting {name}"), e))?;
        Ok(inspect
            .mounts
            .unwrap_or_default()
            .into_iter()
            .map(|m| MountInfo {
                kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
                name: m.name,
                writable: m.rw.unwrap_or(true),
            })
            .collect())
    }

    /// Creates the empty volume `name` with `labels` (the engine's default
    /// driver, so it lives under the engine's data root).
    pub async fn create_labelled_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        self.docker
            .create_volume(VolumeCreateRequest {
                name: Some(name.to_owned()),
                labels: Some(labels),
                ..Default::default()
            })
            .await
            .map_err(|e| EngineError::api(&self.endpoint, format!("creating volume {name}"), e))?;
        Ok(())
    }

    /// Whether volume `name` exists.
    pub async fn volume_exists(&self, name: &str) -> Result<bool, EngineError> {
        match self.docker.inspect_volume(name).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(EngineError::api(
                &self.endpoint,
                format!("inspecting volume {name}"),
                e,
            )),
        }
    }

    /// Every container that mounts volume `name`, whoever made it and
    /// whatever its state.
    pub async fn volume_users(&self, name: &str) -> Result<Vec<Container>, EngineError> {
        let list = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(HashMap::from([(
                    "volume".to_owned(),
                    vec![name.to_owned()],
                )])),
                ..Default::default()
            }))
            .await
            .map_err(|e| {
                EngineError::api(
                    &self.endpoint,
                    format!("listing the users of volume {name}"),
                    e,
                )
            })?;
        Ok(list
            .into_iter()
            .filter_map(Container::from_summary)
            .collect())
    }
}
