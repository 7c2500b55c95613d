//! The Docker Engine, through its API (bollard): connecting, and the
//! operations `up`, `down` and `status` are made of. Nothing here knows about
//! modes or repos; it works on container specs built from the plan.

pub(crate) mod container;
pub mod endpoint;
pub mod helper;
pub mod probe;
pub mod pull;
pub mod spec;
pub mod ssh;
mod volume;

pub use container::{Container, Health, RunState};

use bollard::models::{NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListNetworksOptions, ListVolumesOptions,
    LogsOptions, RemoveContainerOptions, RemoveVolumeOptions, StartContainerOptions,
    StopContainerOptions,
};
use bollard::{ClientVersion, Docker};
use endpoint::{Address, Endpoint, EndpointError, SshTarget};
use futures_util::stream::{BoxStream, StreamExt};
use std::collections::HashMap;
use std::time::Duration;

/// How long a request may take before the engine counts as unresponsive.
const REQUEST_TIMEOUT_SECS: u64 = 120;
const PING_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("cannot reach the Docker engine at {} ({}): {reason}", endpoint.address, endpoint.source)]
    Unreachable { endpoint: Endpoint, reason: String },
    /// The SSH connection to a remote engine could not be made.
    #[error("{source} (engine {}, from {})", endpoint.address, endpoint.source)]
    Ssh {
        endpoint: Endpoint,
        #[source]
        source: ssh::SshError,
    },
    /// The engine answered with an error: what devrig was doing, and the
    /// engine's own words (the client's error kept as the cause).
    #[error("{action}: {message}")]
    Api {
        action: String,
        message: String,
        #[source]
        cause: Option<bollard::errors::Error>,
    },
    /// The connection to the engine broke mid-way (the engine stopped,
    /// restarted, or its socket went away).
    #[error("lost the Docker engine at {} ({}) while {action}: {message}", endpoint.address, endpoint.source)]
    Lost {
        endpoint: Endpoint,
        action: String,
        message: String,
        #[source]
        cause: bollard::errors::Error,
    },
}

impl EngineError {
    /// The client's error while doing `action` on the engine at `endpoint`:
    /// a broken connection is a lost engine (exit 3), anything else the
    /// engine's refusal.
    fn api(endpoint: &Endpoint, action: impl Into<String>, err: bollard::errors::Error) -> Self {
        use bollard::errors::Error as E;
        let action = action.into();
        let message = api_message(&err);
        match err {
            E::HyperLegacyError { .. }
            | E::IOError { .. }
            | E::RequestTimeoutError
            | E::HyperResponseError { .. }
            | E::SocketNotFoundError(_) => EngineError::Lost {
                endpoint: endpoint.clone(),
                action,
                message: deepest_cause(&err).unwrap_or(message),
                cause: err,
            },
            err => EngineError::Api {
                action,
                message,
                cause: Some(err),
            },
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            EngineError::Endpoint(e) => Some(e.hint()),
            EngineError::Unreachable { endpoint, .. } => Some(match &endpoint.address {
                Address::Unix(path) => format!(
                    "start Docker (Docker Desktop, colima, or `sudo systemctl start docker`), or point DOCKER_HOST/DOCKER_CONTEXT at a running engine; nothing answers at {}",
                    path.display()
                ),
                Address::Tcp(addr) => format!(
                    "check that an engine listens on {addr} and that DOCKER_HOST/DOCKER_CONTEXT are what you want"
                ),
                Address::Ssh(target) => format!(
                    "start Docker on {host} (`sudo systemctl start docker` there); `ssh {host} docker version` must answer",
                    host = target.name()
                ),
            }),
            EngineError::Ssh { source, .. } => Some(source.hint()),
            EngineError::Api { .. } => None,
            EngineError::Lost { .. } => Some(
                "check that the engine still runs (`docker version`), then run the command again; what was done so far is kept"
                    .to_owned(),
            ),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            EngineError::Unreachable { .. }
            | EngineError::Endpoint(_)
            | EngineError::Lost { .. }
            | EngineError::Ssh { .. } => crate::exit::ENGINE,
            EngineError::Api { .. } => crate::exit::FAILURE,
        }
    }
}

/// The engine's own message, without bollard's wrapping.
/// What broke a connection, in the words of the lowest layer that says:
/// `Connection reset by peer (os error 104)`, `connection closed before
/// message completed`, rather than the HTTP client's wrapping of it
/// ("Error in the hyper legacy client: client error (SendRequest)").
fn deepest_cause(err: &bollard::errors::Error) -> Option<String> {
    let mut deepest: Option<&dyn std::error::Error> = None;
    let mut next = std::error::Error::source(err);
    while let Some(cause) = next {
        deepest = Some(cause);
        next = cause.source();
    }
    deepest.map(ToString::to_string)
}

fn api_message(err: &bollard::errors::Error) -> String {
    match err {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// A connected engine. The client is private: the layers above use these
/// methods and devrig's own types ([`Container`], [`RunState`]).
pub struct Engine {
    docker: Docker,
    pub endpoint: Endpoint,
    pub server_version: String,
    pub api_version: String,
    /// The SSH connection, for an engine on another machine.
    remote: Option<ssh::Remote>,
}

impl Engine {
    /// Resolves the engine like the docker CLI, connects and pings it.
    pub async fn connect() -> Result<Engine, EngineError> {
        let var = |k: &str| std::env::var(k).ok();
        let home = directories::BaseDirs::new().map(|b| b.home_dir().to_owned());
        let endpoint = endpoint::resolve(&endpoint::Lookup { var: &var, home })?;
        Self::connect_to(endpoint).await
    }

    pub async fn connect_to(endpoint: Endpoint) -> Result<Engine, EngineError> {
        let unreachable = |reason: String| EngineError::Unreachable {
            endpoint: endpoint.clone(),
            reason,
        };
        match &endpoint.address {
            Address::Unix(path) => {
                if !path.exists() {
                    return Err(unreachable("no socket there".to_owned()));
                }
                let path = path.clone();
                Self::handshake(&|version| unix_client(&path, version), endpoint, None).await
            }
            Address::Tcp(addr) => {
                let url = format!("tcp://{addr}");
                let make = |version: &ClientVersion| {
                    Docker::connect_with_http(&url, REQUEST_TIMEOUT_SECS, version)
                };
                Self::handshake(&make, endpoint, None).await
            }
            Address::Ssh(target) => {
                let target = target.clone();
                Self::connect_over_ssh(endpoint, &target).await
            }
        }
    }

    /// An engine on another machine: through the socket the SSH master
    /// forwards to it. A socket another devrig process left answering is
    /// used at once; otherwise the master is (re)made first.
    async fn connect_over_ssh(
        endpoint: Endpoint,
        target: &SshTarget,
    ) -> Result<Engine, EngineError> {
        if let Some(remote) = ssh::existing(target) {
            let socket = remote.socket().to_owned();
            let make = |version: &ClientVersion| unix_client(&socket, version);
            if let Ok(engine) = Self::handshake(&make, endpoint.clone(), Some(remote)).await {
                return Ok(engine);
            }
        }
        let remote = ssh::connect(target, &[])
            .await
            .map_err(|source| EngineError::Ssh {
                endpoint: endpoint.clone(),
                source,
            })?;
        let socket = remote.socket().to_owned();
        let make = |version: &ClientVersion| unix_client(&socket, version);
        let engine_address = remote.engine_address().to_owned();
        match Self::handshake(&make, endpoint, Some(remote)).await {
            Err(EngineError::Unreachable { endpoint, reason }) => Err(EngineError::Unreachable {
                reason: format!(
                    "its engine ({engine_address} on {}) does not answer: {reason}",
                    target.name()
                ),
                endpoint,
            }),
            other => other,
        }
    }

    /// Asks the engine its version, then speaks that API version when it
    /// is older than bollard's. One request for both: the client is made
    /// again (`make`, no I/O) for an older engine, rather than asking it a
    /// second time (bollard's `negotiate_version`), which a no-op `up`
    /// would pay for.
    async fn handshake(
        make: &(dyn Fn(&ClientVersion) -> Result<Docker, bollard::errors::Error> + Sync),
        endpoint: Endpoint,
        remote: Option<ssh::Remote>,
    ) -> Result<Engine, EngineError> {
        let unreachable = |reason: String| EngineError::Unreachable {
            endpoint: endpoint.clone(),
            reason,
        };
        let docker =
            make(bollard::API_DEFAULT_VERSION).map_err(|e| unreachable(api_message(&e)))?;
        let version = match tokio::time::timeout(PING_TIMEOUT, docker.version()).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Err(unreachable(api_message(&e))),
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {}s",
                    PING_TIMEOUT.as_secs()
                )));
            }
        };
        let docker = match version.api_version.as_deref().and_then(api_version) {
            Some(theirs) if theirs < *bollard::API_DEFAULT_VERSION => {
                make(&theirs).map_err(|e| unreachable(api_message(&e)))?
            }
            _ => docker,
        };
        Ok(Engine {
            docker,
            endpoint,
            server_version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            remote,
        })
    }

    /// The SSH connection of an engine on another machine; `None` for a
    /// local (or plain TCP) engine.
    pub fn remote(&self) -> Option<&ssh::Remote> {
        self.remote.as_ref()
    }

    /// Ends the SSH connection of a remote engine (nothing for a local
    /// one): `down` does when nothing of any stack is left up.
    pub async fn disconnect(&self) {
        if let Some(remote) = &self.remote {
            remote.exit().await;
        }
    }

    /// The address `host-gateway` stands for in containers: the default
    /// bridge's gateway, where the engine's host answers them.
    pub async fn host_gateway(&self) -> Result<Option<String>, EngineError> {
        let bridge = self
            .docker
            .inspect_network("bridge", None)
            .await
            .map_err(|e| EngineError::api(&self.endpoint, "inspecting the bridge network", e))?;
        Ok(bridge
            .ipam
            .and_then(|ipam| ipam.config)
            .into_iter()
            .flatten()
            .find_map(|c| {
                c.gateway
                    .filter(|g| g.parse::<std::net::Ipv4Addr>().is_ok())
            }))
    }

    /// Every container with a compose project label among `projects` (all
    /// devservices-labelled containers when empty), in one request.
    pub async fn containers(&self, projects: &[String]) -> Result<Vec<Container>, EngineError> {
        let mut filters: HashMap<String, Vec<String>> = HashMap::new();
        filters.insert(
            "label".to_owned(),
            vec![format!(
                "{}={}",
                spec::LABEL_ORCHESTRATOR.0,
                spec::LABEL_ORCHESTRATOR.1
            )],
        );
        let list = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| EngineError::api(&self.endpoint, "listing containers", e))?;
        Ok(list
            .into_iter()
            .filter_map(Container::from_summary)
            .filter(|c| {
                projects.is_empty()
                    || c.label(spec::LABEL_PROJECT)
                        .is_some_and(|p| projects.iter().any(|x| x == p))
            })
            .collect())
    }

    /// Creates the network unless it exists. External networks are created
    /// too (devservices creates the shared `devservices` network the same
    /// way), but without compose's labels, since no project owns them.
    pub async fn ensure_network(&self, net: &spec::NetworkSpec) -> Result<bool, EngineError> {
        match self.docker.inspect_network(&net.name, None).await {
            Ok(_) => return Ok(false),
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(EngineError::api(
                    &self.endpoint,
                    format!("inspecting network {}", net.name),
                    e,
                ));
            }
        }
        let mut labels = HashMap::new();
        if !net.external {
            labels.insert(spec::LABEL_PROJECT.to_owned(), net.project.clone());
            labels.insert(spec::LABEL_NETWORK.to_owned(), net.key.clone());
        }
        let request = NetworkCreateRequest {
            name: net.name.clone(),
            driver: Some("bridge".to_owned()),
            labels: Some(labels),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => Ok(true),
            // Another `up` created it meanwhile.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(false),
            Err(e) => Err(EngineError::api(
                &self.endpoint,
                format!("creating network {}", net.name),
                e,
            )),
        }
    }

    /// The volume `name` with its labels, `None` when there is none.
    pub async fn volume(&self, name: &str) -> Result<Option<Resource>, EngineError> {
        match self.docker.inspect_volume(name).await {
            Ok(volume) => Ok(Some(Resource {
                name: volume.name,
                labels: volume.labels,
            })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(EngineError::api(
                &self.endpoint,
                format!("inspecting volume {name}"),
                e,
            )),
        }
    }

    /// Creates the volume unless it exists: an existing volume, such as the
    /// one devservices made for the same project, is used as it is.
    pub async fn ensure_volume(&self, vol: &spec::VolumeSpec) -> Result<bool, EngineError> {
        match self.docker.inspect_volume(&vol.name).await {
            Ok(_) => return Ok(false),
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(EngineError::api(
                    &self.endpoint,
                    format!("inspecting volume {}", vol.name),
                    e,
                ));
            }
        }
        if vol.external {
            return Err(EngineError::Api {
                action: format!("using external volume {}", vol.name),
                message: "it does not exist, and devrig does not create external volumes"
                    .to_owned(),
                cause: None,
            });
        }
        let mut labels = HashMap::new();
        labels.insert(spec::LABEL_PROJECT.to_owned(), vol.project.clone());
        labels.insert(spec::LABEL_VOLUME.to_owned(), vol.key.clone());
        self.docker
            .create_volume(VolumeCreateRequest {
                name: Some(vol.name.clone()),
                labels: Some(labels),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                EngineError::api(&self.endpoint, format!("creating volume {}", vol.name), e)
            })?;
        Ok(true)
    }

    pub async fn create(&self, spec: &spec::ContainerSpec) -> Result<String, EngineError> {
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            platform: spec.platform.clone().unwrap_or_default(),
        };
        let created = self
            .docker
            .create_container(Some(options), spec.body.clone())
            .await
            .map_err(|e| {
                EngineError::api(
                    &self.endpoint,
                    format!("creating container {}", spec.name),
                    e,
                )
            })?;
        Ok(created.id)
    }

    pub async fn start(&self, name: &str) -> Result<(), EngineError> {
        match self
            .docker
            .start_container(name, None::<StartContainerOptions>)
            .await
        {
            Ok(()) => Ok(()),
            // 304: already running.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::api(
                &self.endpoint,
                format!("starting container {name}"),
                e,
            )),
        }
    }

    /// Stops `name`; `false` when it was not running (already stopped, or
    /// never created).
    pub async fn stop(&self, name: &str, grace: Option<Duration>) -> Result<bool, EngineError> {
        let options = StopContainerOptions {
            t: grace.map(|g| g.as_secs() as i32),
            signal: None,
        };
        match self.docker.stop_container(name, Some(options)).await {
            Ok(()) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(false),
            Err(e) => Err(EngineError::api(
                &self.endpoint,
                format!("stopping container {name}"),
                e,
            )),
        }
    }

    /// Freezes every process of `name` (the cgroup freezer): its files stay
    /// as they were at that instant until [`Engine::unpause`].
    pub async fn pause(&self, name: &str) -> Result<(), EngineError> {
        self.docker
            .pause_container(name)
            .await
            .map_err(|e| EngineError::api(&self.endpoint, format!("pausing container {name}"), e))
    }

    pub async fn unpause(&self, name: &str) -> Result<(), EngineError> {
        self.docker
            .unpause_container(name)
            .await
            .map_err(|e| EngineError::api(&self.endpoint, format!("unpausing container {name}"), e))
    }

    pub async fn remove(&self, name: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptions {
            force: true,
            v: false,
            link: false,
        };
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(EngineError::api(
                &self.endpoint,
                format!("removing container {name}"),
                e,
            )),
        }
    }

    /// What the engine says about `name`'s current run.
    pub async fn run_state(&self, name: &str) -> Result<RunState, EngineError> {
        let inspect = self
            .docker
            .inspect_container(name, None)
            .await
            .map_err(|e| EngineError::api(&self.endpoint, format!("inspecting {name}"), e))?;
        Ok(RunState::from_inspect(inspect))
    }

    /// A container's output (stdout and stderr) as it comes, in chunks that
    /// need not end at a line's end: its last `tail` lines (all when
    /// `None`), then, when `follow`, whatever it writes next. A stream that
    /// breaks simply ends.
    pub fn output(&self, name: &str, follow: bool, tail: Option<usize>) -> BoxStream<'_, String> {
        let options = LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            tail: tail.map_or_else(|| "all".to_owned(), |n| n.to_string()),
            ..Default::default()
        };
        self.docker
            .logs(name, Some(options))
            .take_while(|item| std::future::ready(item.is_ok()))
            .filter_map(|item| async move {
                item.ok()
                    .map(|chunk| String::from_utf8_lossy(&chunk.into_bytes()).into_owned())
            })
            .boxed()
    }

    /// The last `lines` lines of a container's output, for error reports.
    pub async fn tail(&self, name: &str, lines: usize) -> Vec<String> {
        let chunks: Vec<String> = self.output(name, false, Some(lines)).collect().await;
        chunks.concat().lines().map(str::to_owned).collect()
    }

    /// Networks carrying label `key` (any value).
    pub async fn networks_labelled(&self, key: &str) -> Result<Vec<Resource>, EngineError> {
        self.networks(HashMap::from([("label".to_owned(), vec![key.to_owned()])]))
            .await
    }

    /// The networks called `name` (the API matches names by substring;
    /// callers compare the names they get).
    pub async fn networks_named(&self, name: &str) -> Result<Vec<Resource>, EngineError> {
        self.networks(HashMap::from([("name".to_owned(), vec![name.to_owned()])]))
            .await
    }

    async fn networks(
        &self,
        filters: HashMap<String, Vec<String>>,
    ) -> Result<Vec<Resource>, EngineError> {
        let list = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| EngineError::api(&self.endpoint, "listing networks", e))?;
        Ok(list
            .into_iter()
            .map(|n| Resource {
                name: n.name.unwrap_or_default(),
                labels: n.labels.unwrap_or_default(),
            })
            .collect())
    }

    /// Removes network `name`; `false` when there was none.
    pub async fn remove_network(&self, name: &str) -> Result<bool, EngineError> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(EngineError::api(
                &self.endpoint,
                format!("removing network {name}"),
                e,
            )),
        }
    }

    /// Volumes carrying label `key` (any value).
    pub async fn volumes_labelled(&self, key: &str) -> Result<Vec<Resource>, EngineError> {
        let list = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(HashMap::from([("label".to_owned(), vec![key.to_owned()])])),
            }))
            .await
            .map_err(|e| EngineError::api(&self.endpoint, "listing volumes", e))?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| Resource {
                name: v.name,
                labels: v.labels,
            })
            .collect())
    }

    /// Removes volume `name`; `false` when there was none.
    pub async fn remove_volume(&self, name: &str) -> Result<bool, EngineError> {
        match self
            .docker
            .remove_volume(name, None::<RemoveVolumeOptions>)
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(EngineError::api(
                &self.endpoint,
                format!("removing volume {name}"),
                e,
            )),
        }
    }

    /// Where the engine keeps images and volumes (`/var/lib/docker`).
    pub async fn data_root(&self) -> Result<Option<String>, EngineError> {
        let info =
            self.docker.info().await.map_err(|e| {
                EngineError::api(&self.endpoint, "asking the engine about itself", e)
            })?;
        Ok(info.docker_root_dir)
    }
}

fn unix_client(
    path: &std::path::Path,
    version: &ClientVersion,
) -> Result<Docker, bollard::errors::Error> {
    Docker::connect_with_unix(&path.display().to_string(), REQUEST_TIMEOUT_SECS, version)
}

/// An engine's `ApiVersion` (`1.41`) as the client's version type.
fn api_version(text: &str) -> Option<ClientVersion> {
    let (major, minor) = text.split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

/// A network or volume: its name and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub name: String,
    pub labels: HashMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engines_api_version_is_read_as_the_clients() {
        let v = api_version("1.41").unwrap();
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        assert!(v < *bollard::API_DEFAULT_VERSION);
        assert!(api_version("1").is_none());
        assert!(api_version("1.x").is_none());
    }
}
