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
        Err(e) => Err(EngineError::api(format!("inspecting image {image}"), e)),
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
            Err(message) if attempt < ATTEMPTS && transient(&message) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
                retrying(attempt, &message);
            }
            Err(message) => {
                return Err(EngineError::Api {
                    action: format!("pulling {image}"),
                    message,
                });
            }
        }
    }
}

/// Errors worth another try: the stream broke, not "no such image".
fn transient(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    !(lower.contains("not found")
        || lower.contains("manifest unknown")
        || lower.contains("unauthorized")
        || lower.contains("denied")
        || lower.contains("invalid reference"))
}

async fn pull_once(
    engine: &Engine,
    name: &str,
    tag: &str,
    platform: Option<&str>,
    report: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<(), String> {
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
        let info = item.map_err(|e| super::api_message(&e))?;
        if let Some(detail) = info.error_detail {
            return Err(detail.message.unwrap_or_else(|| "pull failed".to_owned()));
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
        assert!(!transient("manifest unknown: manifest unknown"));
        assert!(!transient("pull access denied for x"));
        assert!(transient("unexpected EOF"));
        assert!(transient("connection reset by peer"));
    }
}
