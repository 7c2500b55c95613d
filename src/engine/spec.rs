//! A compose service as the Engine API's container create body, named and
//! labelled exactly as docker compose names and labels its containers, so
//! `docker compose ps`, Docker Desktop and devservices see devrig's
//! containers as their own (and a devservices user keeps their volumes).

use crate::config::compose::Ulimit;
use crate::config::{Config, Service};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, NetworkingConfig, PortBinding,
    ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
pub const LABEL_CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const LABEL_WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const LABEL_VERSION: &str = "com.docker.compose.version";
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";
pub const LABEL_NETWORK: &str = "com.docker.compose.network";
/// `dep:condition:restart,…`, as compose writes it (not hashed by either).
pub const LABEL_DEPENDS_ON: &str = "com.docker.compose.depends_on";
/// The id of the image the container was created from: compose recreates
/// a container whose image id no longer matches.
pub const LABEL_IMAGE: &str = "com.docker.compose.image";
/// devservices finds its containers by this label (`purge`, `reset`).
pub const LABEL_ORCHESTRATOR: (&str, &str) = ("orchestrator", "devservices");
/// Which devrig mode/plan started a container: lets `status` work without state.
pub const LABEL_DEVRIG: &str = "dev.devrig.managed";

/// The container devrig will create for one service.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub project: String,
    pub service: String,
    pub name: String,
    pub image: String,
    pub config_hash: String,
    /// What the engine is asked to create; the layers above change it only
    /// through [`ContainerSpec::add_label`].
    pub(super) body: ContainerCreateBody,
    /// The engine names of the networks and volumes it needs.
    pub networks: Vec<NetworkSpec>,
    pub volumes: Vec<VolumeSpec>,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    pub external: bool,
    pub project: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    pub name: String,
    pub external: bool,
    pub project: String,
    pub key: String,
}

impl ContainerSpec {
    /// A label that does not count towards the config hash (so changing it
    /// alone does not recreate the container).
    pub fn add_label(&mut self, key: &str, value: &str) {
        self.body
            .labels
            .get_or_insert_with(HashMap::new)
            .insert(key.to_owned(), value.to_owned());
    }
}

/// `<project>-<service>-1`, compose's name, unless `container_name` says otherwise.
pub fn container_name(project: &str, service: &Service) -> String {
    service
        .container_name
        .clone()
        .unwrap_or_else(|| format!("{project}-{}-1", service.name))
}

/// Rewrites `reference` to pull through `mirror` (`HOST[:PORT]`): the
/// original registry is replaced, Docker Hub names gain `library/`.
/// `ghcr.io/getsentry/snuba:nightly` → `MIRROR/getsentry/snuba:nightly`,
/// `postgres:14` → `MIRROR/library/postgres:14`.
pub fn mirrored(reference: &str, mirror: &str) -> String {
    let mirror = mirror.trim_end_matches('/');
    let (first, rest) = match reference.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (reference, None),
    };
    let path = match rest {
        Some(rest) if first.contains('.') || first.contains(':') || first == "localhost" => {
            rest.to_owned()
        }
        Some(_) => reference.to_owned(),
        None => format!("library/{reference}"),
    };
    format!("{mirror}/{path}")
}

/// Builds the container for `service` of `config` (project `project`).
/// `mirror` rewrites the image reference.
pub fn container(
    project: &str,
    config: &Config,
    service: &Service,
    mirror: Option<&str>,
) -> ContainerSpec {
    let name = container_name(project, service);
    let source_image = service
        .image
        .clone()
        .unwrap_or_else(|| format!("{project}-{}", service.name));
    let image = match mirror {
        Some(m) if service.image.is_some() => mirrored(&source_image, m),
        _ => source_image,
    };
    // The hash covers the normalized service and the final image reference,
    // so a changed mirror or a changed config recreates the container.
    let config_hash = {
        let mut hasher = Sha256::new();
        hasher.update(serde_json::to_vec(service).unwrap_or_default());
        hasher.update(image.as_bytes());
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };

    let mut labels: HashMap<String, String> = service.labels.clone().into_iter().collect();
    labels.insert(LABEL_PROJECT.into(), project.into());
    labels.insert(LABEL_SERVICE.into(), service.name.clone());
    labels.insert(LABEL_NUMBER.into(), "1".into());
    labels.insert(LABEL_ONEOFF.into(), "False".into());
    labels.insert(LABEL_CONFIG_HASH.into(), config_hash.clone());
    labels.insert(LABEL_CONFIG_FILES.into(), config.file.display().to_string());
    labels.insert(LABEL_WORKING_DIR.into(), config.dir.display().to_string());
    labels.insert(LABEL_VERSION.into(), "2.40.3".into());
    labels.insert(LABEL_ORCHESTRATOR.0.into(), LABEL_ORCHESTRATOR.1.into());
    labels.insert(LABEL_DEVRIG.into(), "true".into());
    labels.insert(
        LABEL_DEPENDS_ON.into(),
        service
            .depends_on
            .iter()
            .map(|(dep, on)| format!("{dep}:{}:{}", on.condition.as_str(), on.restart))
            .collect::<Vec<_>>()
            .join(","),
    );

    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &service.ports {
        let key = format!("{}/{}", port.target, port.protocol);
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        let entry = bindings.entry(key).or_insert_with(|| Some(Vec::new()));
        if let Some(list) = entry {
            list.push(PortBinding {
                host_ip: port.host_ip.clone(),
                host_port: port.published.clone(),
            });
        }
    }

    let mut binds = Vec::new();
    let mut anonymous = Vec::new();
    let mut tmpfs: HashMap<String, String> = service
        .tmpfs
        .iter()
        .map(|t| match t.split_once(':') {
            Some((path, opts)) => (path.to_owned(), opts.to_owned()),
            None => (t.clone(), String::new()),
        })
        .collect();
    let mut volumes = Vec::new();
    for vol in &service.volumes {
        let mut opts = Vec::new();
        if vol.read_only {
            opts.push("ro".to_owned());
        }
        match vol.kind.as_str() {
            "bind" => {
                if let Some(sel) = vol.bind.as_ref().and_then(|b| b.selinux.clone()) {
                    opts.push(sel);
                }
                let suffix = if opts.is_empty() {
                    String::new()
                } else {
                    format!(":{}", opts.join(","))
                };
                binds.push(format!(
                    "{}:{}{suffix}",
                    vol.source.clone().unwrap_or_default(),
                    vol.target
                ));
            }
            "volume" => match &vol.source {
                Some(key) => {
                    if vol.volume.as_ref().is_some_and(|v| v.nocopy) {
                        opts.push("nocopy".to_owned());
                    }
                    let (vname, external) = config.volume_name(project, key);
                    let suffix = if opts.is_empty() {
                        String::new()
                    } else {
                        format!(":{}", opts.join(","))
                    };
                    binds.push(format!("{vname}:{}{suffix}", vol.target));
                    volumes.push(VolumeSpec {
                        name: vname,
                        external,
                        project: project.to_owned(),
                        key: key.clone(),
                    });
                }
                None => anonymous.push(vol.target.clone()),
            },
            _ => {
                tmpfs.insert(vol.target.clone(), String::new());
            }
        }
    }

    let mut endpoints = HashMap::new();
    let mut networks = Vec::new();
    for (key, settings) in &service.networks {
        let (net_name, external) = config.network_name(project, key);
        let mut aliases = vec![name.clone(), service.name.clone()];
        if let Some(s) = settings {
            aliases.extend(s.aliases.iter().cloned());
        }
        endpoints.insert(
            net_name.clone(),
            EndpointSettings {
                aliases: Some(aliases),
                ..Default::default()
            },
        );
        networks.push(NetworkSpec {
            name: net_name,
            external,
            project: project.to_owned(),
            key: key.clone(),
        });
    }

    let healthcheck = service.healthcheck.as_ref().map(|hc| {
        let nanos = |d: Option<crate::config::duration::Duration>| d.map(|d| d.nanos as i64);
        HealthConfig {
            test: if hc.disable {
                Some(vec!["NONE".to_owned()])
            } else {
                hc.test.clone()
            },
            interval: nanos(hc.interval),
            timeout: nanos(hc.timeout),
            retries: hc.retries.map(|r| r as i64),
            start_period: nanos(hc.start_period),
            start_interval: nanos(hc.start_interval),
        }
    });

    let restart_policy = service.restart.as_deref().map(|r| {
        let (name, count) = r
            .split_once(':')
            .map_or((r, None), |(n, c)| (n, c.parse().ok()));
        RestartPolicy {
            name: Some(match name {
                "always" => RestartPolicyNameEnum::ALWAYS,
                "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
                "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                _ => RestartPolicyNameEnum::NO,
            }),
            maximum_retry_count: count,
        }
    });

    let ulimits = service
        .ulimits
        .iter()
        .map(|(name, limit)| {
            let (soft, hard) = match limit {
                Ulimit::Single(v) => (*v, *v),
                Ulimit::Range { soft, hard } => (*soft, *hard),
            };
            ResourcesUlimits {
                name: Some(name.clone()),
                soft: Some(soft),
                hard: Some(hard),
            }
        })
        .collect::<Vec<_>>();

    let env: Vec<String> = service
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();

    let host_config = HostConfig {
        binds: (!binds.is_empty()).then_some(binds),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        restart_policy,
        extra_hosts: (!service.extra_hosts.is_empty()).then(|| {
            service
                .extra_hosts
                .iter()
                .map(|h| h.replacen('=', ":", 1))
                .collect()
        }),
        ulimits: (!ulimits.is_empty()).then_some(ulimits),
        cap_add: (!service.cap_add.is_empty()).then(|| service.cap_add.clone()),
        privileged: service.privileged.then_some(true),
        init: service.init,
        shm_size: service.shm_size.map(|s| s as i64),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        network_mode: endpoints.keys().next().cloned(),
        ..Default::default()
    };

    let body = ContainerCreateBody {
        image: Some(image.clone()),
        hostname: service.hostname.clone(),
        user: service.user.clone(),
        working_dir: service.working_dir.clone(),
        env: Some(env),
        cmd: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        labels: Some(labels),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck,
        stop_signal: service.stop_signal.clone(),
        stop_timeout: service
            .stop_grace_period
            .map(|d| (d.nanos / 1_000_000_000) as i64),
        volumes: (!anonymous.is_empty()).then_some(anonymous),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(endpoints),
        }),
        ..Default::default()
    };

    ContainerSpec {
        project: project.to_owned(),
        service: service.name.clone(),
        name,
        image,
        config_hash,
        body,
        networks,
        volumes,
        platform: service.platform.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Variables};

    fn demo() -> Config {
        let text = crate::templates::render("sentry", &[]).unwrap().text;
        config::load_str(
            std::path::Path::new("/src/sentry/devservices/config.yml"),
            &text,
            &Variables::from_pairs([]),
        )
        .unwrap()
    }

    #[test]
    fn mirror_rewrites() {
        assert_eq!(
            mirrored("ghcr.io/getsentry/snuba:nightly", "127.0.0.1:5000"),
            "127.0.0.1:5000/getsentry/snuba:nightly"
        );
        assert_eq!(
            mirrored("postgres:14", "m:5000"),
            "m:5000/library/postgres:14"
        );
        assert_eq!(mirrored("getsentry/relay", "m"), "m/getsentry/relay");
        assert_eq!(mirrored("localhost/x/y:1", "m/"), "m/x/y:1");
        assert_eq!(
            mirrored(
                "us-central1-docker.pkg.dev/sentryio/relay/relay:nightly",
                "m"
            ),
            "m/sentryio/relay/relay:nightly"
        );
    }

    #[test]
    fn names_and_labels_match_compose() {
        let config = demo();
        let spec = container("sentry", &config, &config.services["postgres"], None);
        assert_eq!(spec.name, "sentry-postgres-1");
        let labels = spec.body.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_PROJECT], "sentry");
        assert_eq!(labels[LABEL_SERVICE], "postgres");
        assert_eq!(labels[LABEL_NUMBER], "1");
        assert_eq!(labels[LABEL_ONEOFF], "False");
        assert_eq!(labels["orchestrator"], "devservices");
        assert_eq!(
            spec.volumes[0].name, "sentry_postgres-data",
            "a devservices user's volume is reused"
        );
        assert_eq!(spec.networks[0].name, "devservices");
        assert!(spec.networks[0].external);
        let host = spec.body.host_config.as_ref().unwrap();
        assert_eq!(
            host.binds.as_ref().unwrap(),
            &["sentry_postgres-data:/var/lib/postgresql/data"]
        );
        let binding = &host.port_bindings.as_ref().unwrap()["5432/tcp"]
            .as_ref()
            .unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(binding.host_port.as_deref(), Some("5432"));
        assert_eq!(
            host.extra_hosts.as_ref().unwrap(),
            &["host.docker.internal:host-gateway"]
        );
    }

    #[test]
    fn hash_changes_with_config_and_mirror_only() {
        let config = demo();
        let a = container("sentry", &config, &config.services["redis"], None);
        let b = container("sentry", &config, &config.services["redis"], None);
        assert_eq!(a.config_hash, b.config_hash);
        let mirrored = container(
            "sentry",
            &config,
            &config.services["redis"],
            Some("127.0.0.1:5000"),
        );
        assert_ne!(a.config_hash, mirrored.config_hash);
        let mut changed = config.services["redis"].clone();
        changed.environment.insert("X".into(), Some("1".into()));
        assert_ne!(
            a.config_hash,
            container("sentry", &config, &changed, None).config_hash
        );
    }
}
