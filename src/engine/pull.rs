//! Pulling images, with progress reported per image (bytes and layers) and
//! streams that break half-way retried.

use super::{Engine, EngineError, is_not_found};
use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

const ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub layers: usize,
    pub layers_done: usize,
    pub current: u64,
    pub total: u64,
}

/// `name:tag` split so that a reference without a tag pulls `latest`, not
/// every tag of the repository (what the API does when `tag` is empty).
pub fn split_reference(reference: &str) -> (&str, &str) {
    if let Some((name, digest)) = reference.split_once('@') {
        return (name, digest);
    }
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            &reference[last_slash + i + 1..],
        ),
        None => (reference, "latest"),
    }
}

pub async fn present(engine: &Engine, image: &str) -> Result<bool, EngineError> {
    Ok(image_id(engine, image).await?.is_some())
}

/// The id (`sha256:…`) of the local image `image` names; `None` when it is
/// not here.
pub async fn image_id(engine: &Engine, image: &str) -> Result<Option<String>, EngineError> {
    match engine.docker.inspect_image(image).await {
        Ok(inspect) => Ok(Some(inspect.id.unwrap_or_default())),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(EngineError::api(
            &engine.endpoint,
            format!("inspecting image {image}"),
            e,
        )),
    }
}

/// Whether `reference` names a tag that moves to new builds (`latest`,
/// `nightly`, or no tag at all, which is `latest`), as opposed to a
/// version or a digest.
pub fn is_moving(reference: &str) -> bool {
    if reference.contains('@') {
        return false;
    }
    matches!(split_reference(reference).1, "latest" | "nightly")
}

/// Pulls `image`, calling `report` as bytes arrive and `retrying` before
/// another attempt (with the attempt's number and why the last one failed).
pub async fn pull(
    engine: &Engine,
    image: &str,
    platform: Option<&str>,
    report: &(dyn Fn(&Progress) + Send + Sync),
    retrying: &(dyn Fn(u32, &str) + Send + Sync),
) -> Result<(), EngineError> {
    let (name, tag) = split_reference(image);
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match pull_once(engine, name, tag, platform, report).await {
            Ok(()) => return Ok(()),
            Err(failure) if attempt < ATTEMPTS && failure.transient() => {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
                retrying(attempt, &failure.message());
            }
            Err(PullFailure::Client(err)) => {
                return Err(EngineError::api(
                    &engine.endpoint,
                    format!("pulling {image}"),
                    err,
                ));
            }
            Err(PullFailure::Registry(message)) => {
                return Err(EngineError::Api {
                    action: format!("pulling {image}"),
                    message,
                    cause: None,
                });
            }
        }
    }
}

/// Why one attempt at a pull failed.
enum PullFailure {
    /// The request failed (the engine refused it, the connection broke, or
    /// the engine relayed the registry's failure in the progress stream,
    /// which the client turns into `DockerStreamError`); the client's error
    /// is kept as the cause.
    Client(bollard::errors::Error),
    /// The stream carried an error with no words at all.
    Registry(String),
}

impl PullFailure {
    fn message(&self) -> String {
        match self {
            PullFailure::Client(err) => super::api_message(err),
            PullFailure::Registry(message) => message.clone(),
        }
    }

    /// Worth another try: the registry's stream broke, not "no such
    /// image". A registry's refusal arrives as text only (the engine's JSON
    /// carries no code), so it is matched against the phrases registries
    /// use for permanent failures. The connection to the engine itself
    /// breaking is not the registry's hiccup but the engine gone (or going):
    /// that is the lost-engine error at once, not a retry against it.
    fn transient(&self) -> bool {
        use bollard::errors::Error as E;
        match self {
            PullFailure::Client(
                E::HyperLegacyError { .. }
                | E::IOError { .. }
                | E::HyperResponseError { .. }
                | E::SocketNotFoundError(_),
            ) => false,
            PullFailure::Client(E::DockerResponseServerError {
                status_code,
                message,
            }) => *status_code >= 500 && !permanent_words(message),
            PullFailure::Client(E::DockerStreamError { error }) => !permanent_words(error),
            PullFailure::Client(_) => true,
            PullFailure::Registry(message) => !permanent_words(message),
        }
    }
}

fn permanent_words(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("not found")
        || lower.contains("manifest unknown")
        || lower.contains("unauthorized")
        || lower.contains("denied")
        || lower.contains("invalid reference")
}

async fn pull_once(
    engine: &Engine,
    name: &str,
    tag: &str,
    platform: Option<&str>,
    report: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<(), PullFailure> {
    let options = CreateImageOptions {
        from_image: Some(name.to_owned()),
        tag: Some(tag.to_owned()),
        platform: platform.unwrap_or_default().to_owned(),
        ..Default::default()
    };
    let mut stream = engine.docker.create_image(Some(options), None, None);
    // layer id → (current, total, done)
    let mut layers: HashMap<String, (u64, u64, bool)> = HashMap::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(PullFailure::Client)?;
        if let Some(detail) = info.error_detail {
            return Err(PullFailure::Registry(
                detail.message.unwrap_or_else(|| "pull failed".to_owned()),
            ));
        }
        let (Some(id), Some(status)) = (info.id, info.status) else {
            continue;
        };
        let entry = layers.entry(id).or_insert((0, 0, false));
        match status.as_str() {
            "Downloading" => {
                if let Some(d) = info.progress_detail {
                    entry.0 = d.current.unwrap_or(0).max(0) as u64;
                    entry.1 = d.total.unwrap_or(0).max(0) as u64;
                }
            }
            "Download complete" | "Pull complete" | "Already exists" => {
                entry.0 = entry.1;
                entry.2 = true;
            }
            _ => {}
        }
        report(&Progress {
            layers: layers.len(),
            layers_done: layers.values().filter(|l| l.2).count(),
            current: layers.values().map(|l| l.0).sum(),
            total: layers.values().map(|l| l.1).sum(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_get_a_tag() {
        assert_eq!(split_reference("redis"), ("redis", "latest"));
        assert_eq!(split_reference("redis:7"), ("redis", "7"));
        assert_eq!(
            split_reference("127.0.0.1:5000/a/b"),
            ("127.0.0.1:5000/a/b", "latest")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/a/b:1.2"),
            ("127.0.0.1:5000/a/b", "1.2")
        );
        assert_eq!(split_reference("x@sha256:abc"), ("x", "sha256:abc"));
    }

    #[test]
    fn moving_tags() {
        assert!(is_moving("redis"));
        assert!(is_moving("ghcr.io/getsentry/snuba:nightly"));
        assert!(is_moving("127.0.0.1:5000/a/b:latest"));
        assert!(!is_moving("redis:7"));
        assert!(!is_moving("x@sha256:abc"));
        assert!(!is_moving("postgres:14-alpine"));
    }

    #[test]
    fn missing_images_are_not_retried() {
        use bollard::errors::Error as E;
        let stream = |error: &str| {
            PullFailure::Client(E::DockerStreamError {
                error: error.to_owned(),
            })
            .transient()
        };
        let status = |status_code: u16, message: &str| {
            PullFailure::Client(E::DockerResponseServerError {
                status_code,
                message: message.to_owned(),
            })
            .transient()
        };
        assert!(!stream("manifest unknown: manifest unknown"));
        assert!(!stream("pull access denied for x"));
        assert!(stream("unexpected EOF"));
        assert!(stream("connection reset by peer"));
        assert!(!status(404, "manifest for x:1 not found"));
        assert!(!status(500, "manifest unknown"));
        assert!(status(
            500,
            "received unexpected HTTP status: 502 Bad Gateway"
        ));
        assert!(PullFailure::Client(E::RequestTimeoutError).transient());
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(
            !PullFailure::Client(E::IOError { err: reset }).transient(),
            "the engine's own connection broke: not retried"
        );
        assert!(!PullFailure::Registry("pull access denied".to_owned()).transient());
    }

    #[test]
    fn a_broken_connection_is_a_lost_engine_not_a_refusal() {
        use bollard::errors::Error as E;
        let endpoint = crate::engine::Endpoint {
            address: crate::engine::endpoint::Address::Unix("/run/x.sock".into()),
            source: "DOCKER_HOST".to_owned(),
        };
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "broken pipe");
        let lost = EngineError::api(&endpoint, "creating x", E::IOError { err: io });
        assert!(matches!(lost, EngineError::Lost { .. }), "{lost:?}");
        assert_eq!(lost.exit_code(), crate::exit::ENGINE);
        assert!(lost.hint().is_some());
        assert!(
            lost.to_string()
                .contains("unix:///run/x.sock (DOCKER_HOST)"),
            "{lost}"
        );
        let refused = EngineError::api(
            &endpoint,
            "creating x",
            E::DockerResponseServerError {
                status_code: 409,
                message: "Conflict".to_owned(),
            },
        );
        assert!(matches!(refused, EngineError::Api { .. }));
        assert_eq!(refused.exit_code(), crate::exit::FAILURE);
        assert!(std::error::Error::source(&refused).is_some());
    }
}
