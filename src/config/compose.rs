//! The compose part of a devservices config: `services`, `volumes`,
//! `networks`, typed and normalized the way `docker compose config` normalizes
//! them (long port and volume syntax, environment as a map, absolute bind
//! paths, Go-style durations), so the two can be compared field by field.

use super::duration::Duration;
use super::error::Reporter;
use super::value::{self, Result, key};
use super::yaml::{Node, NodeKind, Pos};
use indexmap::IndexMap;
use serde::Serialize;
use std::path::{Component, Path, PathBuf};

/// Service keys devrig reads. Anything else (other than `x-…`) is warned about.
const SERVICE_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "volumes",
    "networks",
    "labels",
    "healthcheck",
    "restart",
    "extra_hosts",
    "ulimits",
    "platform",
    "depends_on",
    "working_dir",
    "user",
    "tmpfs",
    "shm_size",
    "stop_signal",
    "stop_grace_period",
    "init",
    "cap_add",
    "privileged",
    "hostname",
    "container_name",
];

/// One compose service, normalized: every short form in its long form,
/// variables interpolated, `env_file`s merged, as `docker compose config`
/// prints it (its JSON is compared with compose's in the tests).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Service {
    /// The service's key under `services:`.
    #[serde(skip)]
    pub name: String,
    /// Where the service is defined, for errors and warnings.
    #[serde(skip)]
    pub pos: Pos,
    /// `build`: the image is built from this context instead of pulled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// `cap_add`: extra Linux capabilities.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// `command`, as an argument list (a string is split like compose splits it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// `container_name`: instead of compose's `<project>-<service>-1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// `depends_on`, in its long form: each service with its condition.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub depends_on: IndexMap<String, DependsOn>,
    /// `entrypoint`, as an argument list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `environment` (and `env_file`s merged in); `None` for a name given
    /// without a value.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub environment: IndexMap<String, Option<String>>,
    /// Already merged into `environment`, as compose merges them.
    #[serde(skip)]
    pub env_file: Vec<EnvFile>,
    /// `extra_hosts`: `host:ip` entries (`host-gateway` included).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// `healthcheck`: what devrig probes, and Docker too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// `hostname`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `image`: the reference to pull (before any registry mirror).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `init`: run an init process as PID 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// `labels`, beside the ones devrig adds.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// `networks`: the networks it joins (`default` when none is named).
    pub networks: IndexMap<String, Option<ServiceNetwork>>,
    /// `platform`: the image platform to pull and run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `ports`, each in compose's long form.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// `privileged`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// `restart`: the engine's restart policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// `shm_size`, in bytes.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_display"
    )]
    pub shm_size: Option<u64>,
    /// `stop_grace_period`: how long a stop waits before SIGKILL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    /// `stop_signal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `tmpfs` mounts (`path[:options]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    /// `ulimits`, each with its soft and hard limit.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub ulimits: IndexMap<String, Ulimit>,
    /// Where each of `ulimits` is written, for errors about it.
    #[serde(skip)]
    pub ulimits_at: IndexMap<String, Pos>,
    /// `user`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `volumes`, each in compose's long form.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ServiceVolume>,
    /// `working_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Build {
    pub context: String,
    /// `Dockerfile` unless the file says otherwise, as compose fills it in.
    pub dockerfile: String,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub args: IndexMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A `depends_on` condition. The variants are compose's own names
/// (`service_started`, …), which serde writes back as they are.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

impl Condition {
    /// The name compose writes (`service_healthy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::ServiceStarted => "service_started",
            Condition::ServiceHealthy => "service_healthy",
            Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DependsOn {
    pub condition: Condition,
    pub required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub restart: bool,
    #[serde(skip)]
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvFile {
    pub path: String,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Healthcheck {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable: bool,
}

impl Healthcheck {
    /// Whether there is a probe to run: `disable`, `[NONE]` and a missing test
    /// all mean the service is ready as soon as it runs.
    pub fn probe(&self) -> Option<&[String]> {
        let test = self.test.as_deref()?;
        if self.disable || test.first().map(String::as_str) == Some("NONE") {
            return None;
        }
        Some(test)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ServiceNetwork {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Port {
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    pub target: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    pub protocol: String,
    #[serde(skip)]
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Ulimit {
    Single(i64),
    Range { soft: i64, hard: i64 },
}

impl Ulimit {
    /// The hard limit (a single value is both).
    pub fn hard(&self) -> i64 {
        match self {
            Ulimit::Single(n) => *n,
            Ulimit::Range { hard, .. } => *hard,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceVolume {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
    #[serde(skip)]
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct BindOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub create_host_path: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct VolumeOptions {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nocopy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// A top-level `volumes:` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Volume {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
}

/// A top-level `networks:` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Network {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
}

/// Reads one service. `dir` is the config file's directory, against which
/// relative bind and build paths are resolved.
/// `lookup` resolves variables (process environment, then `.env`) for
/// environment entries given without a value, as compose does.
pub fn service(
    r: &mut Reporter,
    name: &str,
    node: &Node,
    dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Service> {
    let what = format!("service `{name}`");
    value::map(r, node, &what)?;
    value::warn_unknown(r, node, SERVICE_KEYS, &what);
    let mut svc = Service {
        name: name.to_owned(),
        pos: node.pos,
        ..Service::default()
    };
    let field = |k: &str| format!("services.{name}.{k}");
    for (k, v) in value::map(r, node, &what)? {
        let f = field(key(k));
        match key(k) {
            "image" => {
                svc.image = value::opt_string(r, v, &f)?;
                if svc.image.as_deref() == Some("") {
                    return Err(r
                        .error(v, format!("`{f}` is empty"))
                        .with_hint("name the image to run, e.g. `image: redis:7`"));
                }
            }
            "build" => svc.build = Some(build(r, v, &f, dir)?),
            "command" => svc.command = value::command(r, v, &f)?,
            "entrypoint" => svc.entrypoint = value::command(r, v, &f)?,
            "environment" => svc.environment = value::list_or_map(r, v, &f, '=')?,
            "env_file" => svc.env_file = env_files(r, v, &f)?,
            "ports" => {
                for item in value::seq(r, v, &f)? {
                    svc.ports.extend(ports(r, item, &f)?);
                }
            }
            "volumes" => {
                for item in value::seq(r, v, &f)? {
                    svc.volumes.push(service_volume(r, item, &f, dir)?);
                }
            }
            "networks" => svc.networks = service_networks(r, v, &f)?,
            "labels" => svc.labels = labels(r, v, &f)?,
            "healthcheck" => svc.healthcheck = Some(healthcheck(r, v, &f)?),
            "restart" => svc.restart = value::opt_string(r, v, &f)?,
            "extra_hosts" => svc.extra_hosts = extra_hosts(r, v, &f)?,
            "ulimits" => {
                svc.ulimits = ulimits(r, v, &f)?;
                svc.ulimits_at = value::map(r, v, &f)?
                    .iter()
                    .map(|(k, _)| (key(k).to_owned(), k.pos))
                    .collect();
            }
            "platform" => svc.platform = value::opt_string(r, v, &f)?,
            "depends_on" => svc.depends_on = depends_on(r, v, &f)?,
            "working_dir" => svc.working_dir = value::opt_string(r, v, &f)?,
            "user" => svc.user = value::opt_string(r, v, &f)?,
            "tmpfs" => svc.tmpfs = value::string_or_list(r, v, &f)?,
            "shm_size" => svc.shm_size = Some(byte_size(r, v, &f)?),
            "stop_signal" => svc.stop_signal = value::opt_string(r, v, &f)?,
            "stop_grace_period" => svc.stop_grace_period = Some(value::duration(r, v, &f)?),
            "init" => svc.init = Some(value::boolean(r, v, &f)?),
            "cap_add" => svc.cap_add = value::string_list(r, v, &f)?,
            "privileged" => svc.privileged = value::boolean(r, v, &f)?,
            "hostname" => svc.hostname = value::opt_string(r, v, &f)?,
            "container_name" => svc.container_name = value::opt_string(r, v, &f)?,
            _ => {}
        }
    }
    svc.environment = resolve_environment(r, node, &svc, dir, lookup)?;
    // A build arg without a value comes from the environment, and is dropped
    // when unset (compose's behaviour; an empty value would change builds).
    if let Some(build) = &mut svc.build {
        build.args = std::mem::take(&mut build.args)
            .into_iter()
            .filter_map(|(k, v)| match v {
                Some(v) => Some((k, Some(v))),
                None => lookup(&k).map(|v| (k, Some(v))),
            })
            .collect();
    }
    if svc.image.is_none() && svc.build.is_none() {
        return Err(r
            .error(node, format!("{what} has neither `image` nor `build`"))
            .with_hint("add `image: NAME:TAG`, or `build: DIR` with a Dockerfile"));
    }
    // Compose attaches every service without explicit networks to `default`.
    if svc.networks.is_empty() {
        svc.networks.insert("default".to_owned(), None);
    }
    Ok(svc)
}

/// The service's final environment: `env_file` contents in order, then
/// `environment` on top; entries without a value are looked up in the
/// process environment and `.env` (and stay `null` in `environment` when
/// unset, but are dropped from env files), as compose does.
fn resolve_environment(
    r: &Reporter,
    node: &Node,
    svc: &Service,
    dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, Option<String>>> {
    let mut env: IndexMap<String, Option<String>> = IndexMap::new();
    for file in &svc.env_file {
        let path = PathBuf::from(absolutize(dir, &file.path));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(_) if !file.required => continue,
            Err(e) => {
                let at = node.get("env_file").unwrap_or(node);
                return Err(r
                    .error(
                        at,
                        format!("env file {} cannot be read: {e}", path.display()),
                    )
                    .with_hint(
                        "create it, or mark it optional with `- path: FILE` and `required: false`",
                    ));
            }
        };
        let values = super::dotenv::parse(&text, lookup).map_err(|e| {
            super::error::ConfigError::at(
                &path,
                Pos {
                    line: e.line(),
                    col: 1,
                },
                e.to_string(),
            )
        })?;
        for (k, v) in values {
            env.insert(k, Some(v));
        }
    }
    for (k, v) in &svc.environment {
        let value = match v {
            Some(v) => Some(v.clone()),
            None => lookup(k),
        };
        env.insert(k.clone(), value);
    }
    Ok(env)
}

fn serialize_opt_display<S: serde::Serializer>(
    value: &Option<u64>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    match value {
        Some(v) => serializer.collect_str(v),
        None => serializer.serialize_none(),
    }
}

fn build(r: &mut Reporter, node: &Node, what: &str, dir: &Path) -> Result<Build> {
    if node.as_map().is_none() {
        let context = value::string(r, node, what)?;
        return Ok(Build {
            context: absolutize(dir, &context),
            dockerfile: "Dockerfile".to_owned(),
            args: IndexMap::new(),
            target: None,
        });
    }
    let mut build = Build {
        context: absolutize(dir, "."),
        dockerfile: "Dockerfile".to_owned(),
        args: IndexMap::new(),
        target: None,
    };
    value::warn_unknown(r, node, &["context", "dockerfile", "args", "target"], what);
    for (k, v) in value::map(r, node, what)? {
        let f = format!("{what}.{}", key(k));
        match key(k) {
            "context" => build.context = absolutize(dir, &value::string(r, v, &f)?),
            "dockerfile" => build.dockerfile = value::string(r, v, &f)?,
            "args" => build.args = value::list_or_map(r, v, &f, '=')?,
            "target" => build.target = Some(value::string(r, v, &f)?),
            _ => {}
        }
    }
    Ok(build)
}

fn env_files(r: &Reporter, node: &Node, what: &str) -> Result<Vec<EnvFile>> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    items
        .into_iter()
        .map(|item| {
            if item.as_map().is_some() {
                let path = item
                    .get("path")
                    .ok_or_else(|| r.error(item, format!("{what}: an entry needs `path`")))?;
                let required = match item.get("required") {
                    Some(req) => value::boolean(r, req, what)?,
                    None => true,
                };
                Ok(EnvFile {
                    path: value::string(r, path, what)?,
                    required,
                })
            } else {
                Ok(EnvFile {
                    path: value::string(r, item, what)?,
                    required: true,
                })
            }
        })
        .collect()
}

fn labels(r: &Reporter, node: &Node, what: &str) -> Result<IndexMap<String, String>> {
    Ok(value::list_or_map(r, node, what, '=')?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// Parses one `ports` entry; a short-syntax range yields one port per number.
pub fn ports(r: &Reporter, node: &Node, what: &str) -> Result<Vec<Port>> {
    if node.as_map().is_some() {
        return Ok(vec![long_port(r, node, what)?]);
    }
    let text = value::string(r, node, what)?;
    parse_short_port(&text, node.pos).map_err(|e| {
        r.error(node, format!("{what}: invalid port `{text}`: {e}"))
            .with_hint("use CONTAINER, HOST:CONTAINER or IP:HOST:CONTAINER, optionally with /tcp or /udp, e.g. \"127.0.0.1:5432:5432\"")
    })
}

fn long_port(r: &Reporter, node: &Node, what: &str) -> Result<Port> {
    let mut port = Port {
        mode: "ingress".to_owned(),
        host_ip: None,
        target: 0,
        published: None,
        protocol: "tcp".to_owned(),
        pos: node.pos,
    };
    let mut has_target = false;
    for (k, v) in value::map(r, node, what)? {
        let f = format!("{what}.{}", key(k));
        match key(k) {
            "target" => {
                port.target = port_number(&value::string(r, v, &f)?)
                    .map_err(|e| r.error(v, format!("{f}: {e}")))?;
                has_target = true;
            }
            "published" => {
                let published = value::string(r, v, &f)?;
                parse_range(&published).map_err(|e| r.error(v, format!("{f}: {e}")))?;
                port.published = Some(published);
            }
            "host_ip" => port.host_ip = Some(value::string(r, v, &f)?),
            "protocol" => port.protocol = value::string(r, v, &f)?,
            "mode" => port.mode = value::string(r, v, &f)?,
            "name" | "app_protocol" => {}
            other => return Err(r.error(k, format!("{what}: unknown port key `{other}`"))),
        }
    }
    if !has_target {
        return Err(r.error(
            node,
            format!("{what}: a port in long syntax needs `target`"),
        ));
    }
    Ok(port)
}

fn port_number(text: &str) -> std::result::Result<u16, String> {
    match text.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        Ok(n) => Err(format!("port {n} is out of range 1-65535")),
        Err(_) => Err(format!("`{text}` is not a port number")),
    }
}

fn parse_range(text: &str) -> std::result::Result<(u16, u16), String> {
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port_number(a)?, port_number(b)?);
            if b < a {
                return Err(format!("range `{text}` ends before it starts"));
            }
            Ok((a, b))
        }
        None => {
            let p = port_number(text)?;
            Ok((p, p))
        }
    }
}

/// Short syntax: `[[IP:][HOST[-HOST]]:]CONTAINER[-CONTAINER][/PROTO]`, IPv6
/// host IPs in brackets.
pub fn parse_short_port(text: &str, pos: Pos) -> std::result::Result<Vec<Port>, String> {
    let (spec, protocol) = match text.rsplit_once('/') {
        Some((spec, proto)) => (spec, proto),
        None => (text, "tcp"),
    };
    if !matches!(protocol, "tcp" | "udp" | "sctp") {
        return Err(format!("unknown protocol `{protocol}`"));
    }
    let (host_ip, rest) = if let Some(after) = spec.strip_prefix('[') {
        let (ip, rest) = after
            .split_once(']')
            .ok_or("unclosed `[` in IPv6 address")?;
        let rest = rest.strip_prefix(':').ok_or("expected `:` after `]`")?;
        (Some(ip.to_owned()), rest)
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.len() {
            1 | 2 => (None, spec),
            3 => (Some(parts[0].to_owned()), &spec[parts[0].len() + 1..]),
            _ => return Err("too many `:`".to_owned()),
        }
    };
    let (published, target) = match rest.split_once(':') {
        Some((host, container)) => (Some(host), container),
        None => (None, rest),
    };
    if host_ip.as_deref() == Some("") {
        return Err("empty host IP".to_owned());
    }
    let (t_start, t_end) = parse_range(target)?;
    let published = published.filter(|p| !p.is_empty());
    let host_range = published.map(parse_range).transpose()?;
    let count = usize::from(t_end - t_start) + 1;
    if let Some((h_start, h_end)) = host_range
        && h_end != h_start
        && usize::from(h_end - h_start) + 1 != count
        && count != 1
    {
        return Err("host and container ranges differ in length".to_owned());
    }
    Ok((0..count)
        .map(|i| {
            let published = match host_range {
                Some((h_start, h_end)) if h_start == h_end => Some(h_start.to_string()),
                Some((h_start, h_end)) if count == 1 => Some(format!("{h_start}-{h_end}")),
                Some((h_start, _)) => Some((h_start + i as u16).to_string()),
                None => None,
            };
            Port {
                mode: "ingress".to_owned(),
                host_ip: host_ip.clone(),
                target: t_start + i as u16,
                published,
                protocol: protocol.to_owned(),
                pos,
            }
        })
        .collect())
}

fn service_volume(r: &Reporter, node: &Node, what: &str, dir: &Path) -> Result<ServiceVolume> {
    if node.as_map().is_some() {
        return long_volume(r, node, what, dir);
    }
    let text = value::string(r, node, what)?;
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, options] => (Some(*source), *target, Some(*options)),
        _ => {
            return Err(r
                .error(node, format!("{what}: invalid volume `{text}`"))
                .with_hint("use NAME:/path, ./host/path:/path or /path, optionally with :ro"));
        }
    };
    if target.is_empty() || !target.starts_with('/') {
        return Err(r.error(
            node,
            format!("{what}: volume `{text}` needs an absolute container path"),
        ));
    }
    if source == Some("") {
        return Err(r
            .error(
                node,
                format!("{what}: the source of volume `{text}` is empty"),
            )
            .with_hint("name a volume declared under top-level `volumes:`, or a host path"));
    }
    let mut read_only = false;
    let mut bind = BindOptions::default();
    let mut volume_opts = VolumeOptions::default();
    for option in options.into_iter().flat_map(|o| o.split(',')) {
        match option {
            "ro" => read_only = true,
            "rw" => {}
            "z" | "Z" => bind.selinux = Some(option.to_owned()),
            "nocopy" => volume_opts.nocopy = true,
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                bind.propagation = Some(option.to_owned())
            }
            "cached" | "delegated" | "consistent" => {}
            other => {
                return Err(r.error(
                    node,
                    format!("{what}: unknown volume option `{other}` in `{text}`"),
                ));
            }
        }
    }
    let is_bind = source.is_some_and(|s| s.starts_with(['.', '/', '~']));
    Ok(if is_bind {
        bind.create_host_path = true;
        ServiceVolume {
            kind: "bind".to_owned(),
            source: source.map(|s| absolutize(dir, s)),
            target: target.to_owned(),
            read_only,
            bind: Some(bind),
            volume: None,
            pos: node.pos,
        }
    } else {
        ServiceVolume {
            kind: "volume".to_owned(),
            source: source.map(str::to_owned),
            target: target.to_owned(),
            read_only,
            bind: None,
            volume: Some(volume_opts),
            pos: node.pos,
        }
    })
}

fn long_volume(r: &Reporter, node: &Node, what: &str, dir: &Path) -> Result<ServiceVolume> {
    let mut vol = ServiceVolume {
        kind: String::new(),
        source: None,
        target: String::new(),
        read_only: false,
        bind: None,
        volume: None,
        pos: node.pos,
    };
    for (k, v) in value::map(r, node, what)? {
        let f = format!("{what}.{}", key(k));
        match key(k) {
            "type" => vol.kind = value::string(r, v, &f)?,
            "source" => vol.source = Some(value::string(r, v, &f)?),
            "target" => vol.target = value::string(r, v, &f)?,
            "read_only" => vol.read_only = value::boolean(r, v, &f)?,
            "bind" => {
                let mut bind = BindOptions::default();
                for (bk, bv) in value::map(r, v, &f)? {
                    let bf = format!("{f}.{}", key(bk));
                    match key(bk) {
                        "propagation" => bind.propagation = Some(value::string(r, bv, &bf)?),
                        "create_host_path" => bind.create_host_path = value::boolean(r, bv, &bf)?,
                        "selinux" => bind.selinux = Some(value::string(r, bv, &bf)?),
                        other => return Err(r.error(bk, format!("{f}: unknown key `{other}`"))),
                    }
                }
                vol.bind = Some(bind);
            }
            "volume" => {
                let mut opts = VolumeOptions::default();
                for (vk, vv) in value::map(r, v, &f)? {
                    let vf = format!("{f}.{}", key(vk));
                    match key(vk) {
                        "nocopy" => opts.nocopy = value::boolean(r, vv, &vf)?,
                        "subpath" => opts.subpath = Some(value::string(r, vv, &vf)?),
                        other => return Err(r.error(vk, format!("{f}: unknown key `{other}`"))),
                    }
                }
                vol.volume = Some(opts);
            }
            "consistency" => {}
            other => return Err(r.error(k, format!("{what}: unknown volume key `{other}`"))),
        }
    }
    match vol.kind.as_str() {
        "bind" => {
            let source = vol
                .source
                .as_deref()
                .ok_or_else(|| r.error(node, format!("{what}: a bind mount needs `source`")))?;
            vol.source = Some(absolutize(dir, source));
        }
        "volume" => {
            vol.volume.get_or_insert_with(VolumeOptions::default);
        }
        "tmpfs" => {}
        "" => {
            return Err(r.error(
                node,
                format!("{what}: a volume in long syntax needs `type`"),
            ));
        }
        other => {
            return Err(r.error(
                node,
                format!("{what}: volume type `{other}` is not one of bind, volume, tmpfs"),
            ));
        }
    }
    if !vol.target.starts_with('/') {
        return Err(r.error(
            node,
            format!("{what}: `target` must be an absolute container path"),
        ));
    }
    Ok(vol)
}

fn service_networks(
    r: &Reporter,
    node: &Node,
    what: &str,
) -> Result<IndexMap<String, Option<ServiceNetwork>>> {
    let mut out = IndexMap::new();
    if let Some(items) = node.as_seq() {
        for item in items {
            let name = value::string(r, item, what)?;
            if name.is_empty() {
                return Err(r
                    .error(item, format!("a network name in `{what}` is empty"))
                    .with_hint("name a network declared under top-level `networks:`"));
            }
            out.insert(name, None);
        }
        return Ok(out);
    }
    for (k, v) in value::map(r, node, what)? {
        let f = format!("{what}.{}", key(k));
        if v.is_null() {
            out.insert(key(k).to_owned(), None);
            continue;
        }
        let mut net = ServiceNetwork::default();
        for (nk, nv) in value::map(r, v, &f)? {
            match key(nk) {
                "aliases" => net.aliases = value::string_list(r, nv, &f)?,
                "ipv4_address" => net.ipv4_address = Some(value::string(r, nv, &f)?),
                _ => {}
            }
        }
        out.insert(key(k).to_owned(), Some(net));
    }
    Ok(out)
}

fn healthcheck(r: &Reporter, node: &Node, what: &str) -> Result<Healthcheck> {
    let mut hc = Healthcheck::default();
    for (k, v) in value::map(r, node, what)? {
        let f = format!("{what}.{}", key(k));
        match key(k) {
            "test" => {
                hc.test = Some(match &v.kind {
                    NodeKind::Seq(_) => {
                        let test = value::string_list(r, v, &f)?;
                        match test.first().map(String::as_str) {
                            Some("CMD" | "CMD-SHELL" | "NONE") => test,
                            _ => {
                                return Err(r
                                    .error(v, format!("{f} must start with CMD, CMD-SHELL or NONE"))
                                    .with_hint("e.g. [\"CMD\", \"pg_isready\"] or [\"CMD-SHELL\", \"curl -f http://localhost/\"]"));
                            }
                        }
                    }
                    _ => vec!["CMD-SHELL".to_owned(), value::string(r, v, &f)?],
                })
            }
            "interval" => hc.interval = Some(value::duration(r, v, &f)?),
            "timeout" => hc.timeout = Some(value::duration(r, v, &f)?),
            "start_period" => hc.start_period = Some(value::duration(r, v, &f)?),
            "start_interval" => hc.start_interval = Some(value::duration(r, v, &f)?),
            "retries" => hc.retries = Some(value::unsigned(r, v, &f)?),
            "disable" => hc.disable = value::boolean(r, v, &f)?,
            other => return Err(r.error(k, format!("{what}: unknown healthcheck key `{other}`"))),
        }
    }
    Ok(hc)
}

fn extra_hosts(r: &Reporter, node: &Node, what: &str) -> Result<Vec<String>> {
    if node.as_seq().is_some() {
        return value::string_list(r, node, what)?
            .into_iter()
            .map(|entry| {
                // Compose accepts both `host:ip` and `host=ip`; IPv6 addresses
                // contain `:`, so split on the first `=` or else the first `:`.
                let split = entry.split_once('=').or_else(|| entry.split_once(':'));
                match split {
                    Some((host, ip)) if !host.is_empty() && !ip.is_empty() => {
                        Ok(format!("{host}={ip}"))
                    }
                    _ => Err(r.error(node, format!("{what}: `{entry}` is not HOST:IP"))),
                }
            })
            .collect();
    }
    Ok(value::list_or_map(r, node, what, '=')?
        .into_iter()
        .map(|(host, ip)| format!("{host}={}", ip.unwrap_or_default()))
        .collect())
}

fn ulimits(r: &Reporter, node: &Node, what: &str) -> Result<IndexMap<String, Ulimit>> {
    let mut out = IndexMap::new();
    for (k, v) in value::map(r, node, what)? {
        let f = format!("{what}.{}", key(k));
        let limit = if v.as_map().is_some() {
            let soft = v
                .get("soft")
                .ok_or_else(|| r.error(v, format!("{f} needs `soft`")))?;
            let hard = v
                .get("hard")
                .ok_or_else(|| r.error(v, format!("{f} needs `hard`")))?;
            Ulimit::Range {
                soft: value::integer(r, soft, &f)?,
                hard: value::integer(r, hard, &f)?,
            }
        } else {
            Ulimit::Single(value::integer(r, v, &f)?)
        };
        out.insert(key(k).to_owned(), limit);
    }
    Ok(out)
}

fn depends_on(r: &Reporter, node: &Node, what: &str) -> Result<IndexMap<String, DependsOn>> {
    let mut out = IndexMap::new();
    if let Some(items) = node.as_seq() {
        for item in items {
            out.insert(
                value::string(r, item, what)?,
                DependsOn {
                    condition: Condition::ServiceStarted,
                    required: true,
                    restart: false,
                    pos: item.pos,
                },
            );
        }
        return Ok(out);
    }
    for (k, v) in value::map(r, node, what)? {
        let f = format!("{what}.{}", key(k));
        let mut dep = DependsOn {
            condition: Condition::ServiceStarted,
            required: true,
            restart: false,
            pos: k.pos,
        };
        if !v.is_null() {
            for (dk, dv) in value::map(r, v, &f)? {
                match key(dk) {
                    "condition" => {
                        dep.condition = match value::string(r, dv, &f)?.as_str() {
                            "service_started" => Condition::ServiceStarted,
                            "service_healthy" => Condition::ServiceHealthy,
                            "service_completed_successfully" => {
                                Condition::ServiceCompletedSuccessfully
                            }
                            other => {
                                return Err(r.error(dv, format!("{f}: unknown condition `{other}`")).with_hint(
                                    "use service_started, service_healthy or service_completed_successfully",
                                ));
                            }
                        }
                    }
                    "required" => dep.required = value::boolean(r, dv, &f)?,
                    "restart" => dep.restart = value::boolean(r, dv, &f)?,
                    other => return Err(r.error(dk, format!("{f}: unknown key `{other}`"))),
                }
            }
        }
        out.insert(key(k).to_owned(), dep);
    }
    Ok(out)
}

/// Sizes such as `shm_size: 1gb`, `256m` or a plain byte count.
fn byte_size(r: &Reporter, node: &Node, what: &str) -> Result<u64> {
    let text = value::string(r, node, what)?;
    parse_bytes(&text).ok_or_else(|| {
        r.error(node, format!("{what}: invalid size `{text}`"))
            .with_hint("use a byte count or a number with b, k, m or g, e.g. 256m")
    })
}

fn parse_bytes(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let number: f64 = lower[..digits_end].parse().ok()?;
    let multiplier: u64 = match lower[digits_end..].trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    Some((number * multiplier as f64) as u64)
}

pub fn top_volumes(r: &Reporter, node: &Node) -> Result<IndexMap<String, Volume>> {
    let mut out = IndexMap::new();
    for (k, v) in value::map(r, node, "volumes")? {
        let f = format!("volumes.{}", key(k));
        let mut vol = Volume::default();
        if !v.is_null() {
            for (vk, vv) in value::map(r, v, &f)? {
                match key(vk) {
                    "name" => vol.name = Some(value::string(r, vv, &f)?),
                    "driver" => vol.driver = Some(value::string(r, vv, &f)?),
                    "external" => vol.external = external(r, vv, &f)?,
                    "labels" => vol.labels = labels(r, vv, &f)?,
                    _ => {}
                }
            }
        }
        out.insert(key(k).to_owned(), vol);
    }
    Ok(out)
}

pub fn top_networks(r: &Reporter, node: &Node) -> Result<IndexMap<String, Network>> {
    let mut out = IndexMap::new();
    for (k, v) in value::map(r, node, "networks")? {
        let f = format!("networks.{}", key(k));
        let mut net = Network::default();
        if !v.is_null() {
            for (nk, nv) in value::map(r, v, &f)? {
                match key(nk) {
                    "name" => net.name = Some(value::string(r, nv, &f)?),
                    "driver" => net.driver = Some(value::string(r, nv, &f)?),
                    "external" => net.external = external(r, nv, &f)?,
                    "labels" => net.labels = labels(r, nv, &f)?,
                    _ => {}
                }
            }
        }
        out.insert(key(k).to_owned(), net);
    }
    Ok(out)
}

/// `external: true`, or the legacy `external: {name: X}` form.
fn external(r: &Reporter, node: &Node, what: &str) -> Result<bool> {
    if node.as_map().is_some() {
        return Ok(true);
    }
    value::boolean(r, node, what)
}

/// Makes `path` absolute against `dir` and drops `.`/`..` lexically, as
/// compose does; `~` is the user's home.
pub fn absolutize(dir: &Path, path: &str) -> String {
    let expanded: PathBuf = if let Some(rest) = path.strip_prefix("~/") {
        directories::BaseDirs::new()
            .map(|b| b.home_dir().join(rest))
            .unwrap_or_else(|| PathBuf::from(path))
    } else if path == "~" {
        directories::BaseDirs::new()
            .map(|b| b.home_dir().to_owned())
            .unwrap_or_else(|| PathBuf::from(path))
    } else {
        dir.join(path)
    };
    let mut out = PathBuf::new();
    for comp in expanded.components() {
        match comp {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(text: &str) -> Vec<(Option<String>, u16, Option<String>, String)> {
        parse_short_port(text, Pos::default())
            .unwrap()
            .into_iter()
            .map(|p| (p.host_ip, p.target, p.published, p.protocol))
            .collect()
    }

    #[test]
    fn short_ports() {
        let s = |x: &str| Some(x.to_owned());
        assert_eq!(short("5432"), vec![(None, 5432, None, "tcp".into())]);
        assert_eq!(short("8000:80"), vec![(None, 80, s("8000"), "tcp".into())]);
        assert_eq!(
            short("127.0.0.1:5432:5432"),
            vec![(s("127.0.0.1"), 5432, s("5432"), "tcp".into())]
        );
        assert_eq!(
            short("127.0.0.1::80"),
            vec![(s("127.0.0.1"), 80, None, "tcp".into())]
        );
        assert_eq!(short("53/udp"), vec![(None, 53, None, "udp".into())]);
        assert_eq!(
            short("[::1]:80:8080"),
            vec![(s("::1"), 8080, s("80"), "tcp".into())]
        );
        assert_eq!(
            short("8000-8001:9000-9001"),
            vec![
                (None, 9000, s("8000"), "tcp".into()),
                (None, 9001, s("8001"), "tcp".into())
            ]
        );
        assert_eq!(
            short("9000-9010:80"),
            vec![(None, 80, s("9000-9010"), "tcp".into())]
        );
    }

    #[test]
    fn bad_short_ports() {
        for bad in [
            "",
            "abc",
            "70000",
            "1:2:3:4",
            "80/xyz",
            "8000-8001:9000-9005",
            "[::1:80:80",
        ] {
            assert!(parse_short_port(bad, Pos::default()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn absolutize_resolves_dots_and_parents() {
        let dir = Path::new("/repo/devservices");
        assert_eq!(absolutize(dir, "./data"), "/repo/devservices/data");
        assert_eq!(absolutize(dir, "../x/y"), "/repo/x/y");
        assert_eq!(absolutize(dir, "/abs/p"), "/abs/p");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("1gb"), Some(1 << 30));
        assert_eq!(parse_bytes("256m"), Some(256 << 20));
        assert_eq!(parse_bytes("1024"), Some(1024));
        assert_eq!(parse_bytes("lots"), None);
    }
}
