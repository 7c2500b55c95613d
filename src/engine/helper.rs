//! Helper containers: short-lived containers that mount volumes so devrig
//! can work on their contents through the Engine API alone (copy one
//! volume into another, or stream a tar of them in and out), the same way
//! against a local or a remote engine, never by reaching into the engine's
//! data root from outside.
//!
//! A helper runs as root with no network, from an image the stack already
//! has; its entrypoint is `/bin/sh -c SCRIPT`, so the image needs a shell
//! (and whatever the script calls). One that only moves tar streams is
//! created and never started: the engine mounts its volumes for the
//! archive requests by itself.

use super::{Engine, EngineError};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, UploadToContainerOptions,
};
use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A volume mounted into a helper.
#[derive(Debug, Clone)]
pub struct Mount {
    pub volume: String,
    pub target: String,
    pub read_only: bool,
}

/// What a helper is made of.
#[derive(Debug, Clone)]
pub struct HelperSpec {
    pub image: String,
    pub mounts: Vec<Mount>,
    /// Run by `/bin/sh -c` when the helper is started.
    pub script: String,
    pub labels: HashMap<String, String>,
}

/// How a started helper ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelperExit {
    /// Its script exited with this code.
    Exited(i64),
    /// The engine could not start it: the image has no `/bin/sh` (the
    /// engine's message says why).
    CannotRun(String),
    /// Cancelled (Ctrl-C): it was killed.
    Cancelled,
}

/// How long a transfer's request may take: a volume of gigabytes streams
/// for longer than the client's usual two minutes.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl Engine {
    /// Creates a helper (not started) and returns its id.
    pub async fn create_helper(&self, spec: &HelperSpec) -> Result<String, EngineError> {
        // `nocopy`: an empty volume is not filled from the image's files
        // at that path.
        let binds = spec
            .mounts
            .iter()
            .map(|m| {
                let mode = if m.read_only { "ro,nocopy" } else { "nocopy" };
                format!("{}:{}:{mode}", m.volume, m.target)
            })
            .collect();
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint: Some(vec![
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                spec.script.clone(),
            ]),
            cmd: Some(Vec::new()),
            user: Some("0:0".to_owned()),
            working_dir: Some("/".to_owned()),
            env: Some(vec!["LC_ALL=C".to_owned()]),
            labels: Some(spec.labels.clone()),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some("none".to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .map_err(|e| {
                EngineError::api(
                    &self.endpoint,
                    format!("creating a helper container from {}", spec.image),
                    e,
                )
            })?;
        Ok(created.id)
    }

    /// Starts helper `id` and waits for it to end, calling `line` with
    /// each line it prints (stdout and stderr). A cancelled `cancel` kills
    /// it. The helper is left for the caller to remove.
    pub async fn run_helper(
        &self,
        id: &str,
        line: &mut (dyn FnMut(&str) + Send),
        cancel: &CancellationToken,
    ) -> Result<HelperExit, EngineError> {
        if let Err(e) = self.docker.start_container(id, None).await {
            return match e {
                // The runtime could not exec the entrypoint.
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 400 | 500,
                    message,
                } if message.contains("/bin/sh") => Ok(HelperExit::CannotRun(message)),
                e => Err(EngineError::api(
                    &self.endpoint,
                    "starting a helper container",
                    e,
                )),
            };
        }
        let options = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let mut output = self.docker.logs(id, Some(options));
        let mut pending = String::new();
        loop {
            tokio::select! {
                chunk = output.next() => match chunk {
                    Some(Ok(chunk)) => {
                        pending.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                        while let Some(end) = pending.find('\n') {
                            line(pending[..end].trim_end_matches('\r'));
                            pending.drain(..=end);
                        }
                    }
                    // The stream ends when the helper does (or breaks).
                    _ => break,
                },
                _ = cancel.cancelled() => {
                    let _ = self.docker.kill_container(id, None).await;
                    return Ok(HelperExit::Cancelled);
                }
            }
        }
        if !pending.is_empty() {
            line(&pending);
        }
        // The log stream can end a moment before the engine records the exit.
        loop {
            let state = self.run_state(id).await?;
            if !state.running {
                return Ok(HelperExit::Exited(state.exit_code.unwrap_or(-1)));
            }
            if cancel.is_cancelled() {
                let _ = self.docker.kill_container(id, None).await;
                return Ok(HelperExit::Cancelled);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Removes helper `id` (killed if it runs), with the anonymous volumes
    /// its image's `VOLUME`s gave it.
    pub async fn remove_helper(&self, id: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if super::is_not_found(&e) => Ok(()),
            Err(e) => Err(EngineError::api(
                &self.endpoint,
                "removing a helper container",
                e,
            )),
        }
    }

    /// A tar stream of `path` in helper `id` (whose volumes the engine
    /// mounts for it, started or not); entries are named from `path`'s
    /// last component on.
    pub fn download(&self, id: &str, path: &str) -> BoxStream<'static, Result<Bytes, EngineError>> {
        let docker = self.docker.clone().with_timeout(TRANSFER_TIMEOUT);
        let endpoint = self.endpoint.clone();
        docker
            .download_from_container(
                id,
                Some(DownloadFromContainerOptions {
                    path: path.to_owned(),
                }),
            )
            .map(move |chunk| {
                chunk.map_err(|e| EngineError::api(&endpoint, "reading a volume's files", e))
            })
            .boxed()
    }

    /// Extracts the tar stream `tar` at `path` in helper `id`, keeping the
    /// owners and modes it names.
    pub async fn upload(
        &self,
        id: &str,
        path: &str,
        tar: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Result<(), EngineError> {
        let docker = self.docker.clone().with_timeout(TRANSFER_TIMEOUT);
        docker
            .upload_to_container(
                id,
                Some(UploadToContainerOptions {
                    path: path.to_owned(),
                    no_overwrite_dir_non_dir: None,
                    copy_uidgid: None,
                }),
                bollard::body_try_stream(tar),
            )
            .await
            .map_err(|e| EngineError::api(&self.endpoint, "writing files into a volume", e))
    }

    /// The environment `image` declares (`KEY=VALUE` each), as its
    /// config says; empty when the engine lacks the image.
    pub async fn image_env(&self, image: &str) -> Result<Vec<String>, EngineError> {
        match self.docker.inspect_image(image).await {
            Ok(inspect) => Ok(inspect.config.and_then(|c| c.env).unwrap_or_default()),
            Err(e) if super::is_not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(EngineError::api(
                &self.endpoint,
                format!("inspecting image {image}"),
                e,
            )),
        }
    }

    /// Ids of the containers carrying `label` (`KEY` for any value, or
    /// `KEY=VALUE`).
    pub async fn containers_labelled(&self, label: &str) -> Result<Vec<String>, EngineError> {
        let list = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(HashMap::from([(
                    "label".to_owned(),
                    vec![label.to_owned()],
                )])),
                ..Default::default()
            }))
            .await
            .map_err(|e| EngineError::api(&self.endpoint, "listing helper containers", e))?;
        Ok(list.into_iter().filter_map(|c| c.id).collect())
    }
}
