//! Which Docker engine to talk to, decided as the docker CLI decides it:
//! `DOCKER_HOST`, then `DOCKER_CONTEXT`, then `currentContext` in the docker
//! config dir's `config.json` (the context's endpoint in its `meta.json`),
//! then the default socket. bollard does not read contexts, so a user whose
//! Docker Desktop or colima context is current would otherwise reach the
//! wrong (or no) engine. `ssh://[user@]host[:port]` (from either) is an
//! engine on another machine, reached through the user's own OpenSSH
//! ([`super::ssh`]).

use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    /// `host:port` for plain HTTP.
    Tcp(String),
    /// An engine on another machine, over SSH.
    Ssh(SshTarget),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix://{}", path.display()),
            Address::Tcp(addr) => write!(f, "tcp://{addr}"),
            Address::Ssh(target) => write!(f, "{target}"),
        }
    }
}

/// `ssh://[user@]host[:port]`, as the docker CLI takes it: the host is
/// whatever the user's `ssh` understands (an alias of `~/.ssh/config`
/// too), so its address, key and jump hosts come from there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    /// `user@host`, or `host`: what `ssh` is given as its destination.
    pub fn destination(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{}", self.host),
            None => self.host.clone(),
        }
    }

    /// The host as messages name it (`devbox`).
    pub fn name(&self) -> &str {
        &self.host
    }

    /// Reads `ssh://[user@]host[:port]` back (as [`fmt::Display`] writes it).
    pub fn parse_url(url: &str) -> Result<SshTarget, String> {
        url.strip_prefix("ssh://")
            .and_then(SshTarget::parse)
            .ok_or_else(|| format!("`{url}` is not ssh://[user@]host[:port]"))
    }

    fn parse(rest: &str) -> Option<SshTarget> {
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return None;
        }
        let (user, host_port) = match rest.rsplit_once('@') {
            Some((user, hp)) if !user.is_empty() => (Some(user.to_owned()), hp),
            Some(_) => return None,
            None => (None, rest),
        };
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse().ok()?),
                None if after.is_empty() => None,
                None => return None,
            };
            (host, port)
        } else {
            match host_port.rsplit_once(':') {
                Some((host, p)) => (host, Some(p.parse().ok()?)),
                None => (host_port, None),
            }
        };
        // A host starting with `-` would be an option to ssh.
        if host.is_empty() || host.starts_with('-') {
            return None;
        }
        Some(SshTarget {
            user,
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ssh://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// The resolved engine address and why it was chosen, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: Address,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("unsupported Docker host `{host}` (from {origin})")]
    Unsupported { host: String, origin: String },
    #[error("Docker context `{name}` not found (from {origin}); looked in {}", meta.display())]
    UnknownContext {
        name: String,
        origin: String,
        meta: PathBuf,
    },
    #[error("cannot read {}: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
}

impl EndpointError {
    pub fn hint(&self) -> String {
        match self {
            EndpointError::Unsupported { .. } => {
                "devrig speaks to engines over unix:// sockets, plain tcp:// and ssh://[user@]host[:port]; use `docker context ls` to find one".to_owned()
            }
            EndpointError::UnknownContext { .. } => {
                "run `docker context ls` to see the contexts, or unset DOCKER_CONTEXT".to_owned()
            }
            EndpointError::Unreadable { .. } => "fix or remove the file".to_owned(),
        }
    }
}

/// What resolution reads from the process, so tests can supply their own.
pub struct Lookup<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<PathBuf>,
}

impl Lookup<'_> {
    fn config_dir(&self) -> Option<PathBuf> {
        match (self.var)("DOCKER_CONFIG") {
            Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
            _ => self.home.as_ref().map(|h| h.join(".docker")),
        }
    }
}

pub fn resolve(lookup: &Lookup) -> Result<Endpoint, EndpointError> {
    if let Some(host) = (lookup.var)("DOCKER_HOST").filter(|h| !h.is_empty()) {
        return parse_host(&host, "DOCKER_HOST");
    }
    let config_dir = lookup.config_dir();
    let context = match (lookup.var)("DOCKER_CONTEXT").filter(|c| !c.is_empty()) {
        Some(name) => Some((name, "DOCKER_CONTEXT".to_owned())),
        None => match &config_dir {
            Some(dir) => current_context(&dir.join("config.json"))?,
            None => None,
        },
    };
    if let Some((name, source)) = context
        && name != "default"
    {
        let dir = config_dir.unwrap_or_else(|| PathBuf::from(".docker"));
        return context_endpoint(&dir, &name, &source);
    }
    Ok(Endpoint {
        address: Address::Unix(PathBuf::from(DEFAULT_SOCKET)),
        source: "the default socket".to_owned(),
    })
}

fn parse_host(host: &str, source: &str) -> Result<Endpoint, EndpointError> {
    let address = if let Some(path) = host.strip_prefix("unix://") {
        Address::Unix(PathBuf::from(path))
    } else if let Some(addr) = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))
    {
        let addr = addr.trim_end_matches('/');
        if addr.is_empty() {
            return Err(EndpointError::Unsupported {
                host: host.to_owned(),
                origin: source.to_owned(),
            });
        }
        Address::Tcp(if addr.contains(':') {
            addr.to_owned()
        } else {
            format!("{addr}:2375")
        })
    } else if let Some(rest) = host.strip_prefix("ssh://") {
        Address::Ssh(
            SshTarget::parse(rest).ok_or_else(|| EndpointError::Unsupported {
                host: host.to_owned(),
                origin: source.to_owned(),
            })?,
        )
    } else {
        return Err(EndpointError::Unsupported {
            host: host.to_owned(),
            origin: source.to_owned(),
        });
    };
    Ok(Endpoint {
        address,
        source: source.to_owned(),
    })
}

fn current_context(config: &Path) -> Result<Option<(String, String)>, EndpointError> {
    let text = match std::fs::read_to_string(config) {
        Ok(text) => text,
        Err(_) => return Ok(None),
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| EndpointError::Unreadable {
            path: config.to_owned(),
            message: e.to_string(),
        })?;
    Ok(json
        .get("currentContext")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(|name| {
            (
                name.to_owned(),
                format!("currentContext in {}", config.display()),
            )
        }))
}

/// The docker CLI stores a context's metadata under the SHA-256 of its name.
fn context_endpoint(
    config_dir: &Path,
    name: &str,
    source: &str,
) -> Result<Endpoint, EndpointError> {
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let meta = config_dir
        .join("contexts")
        .join("meta")
        .join(hex)
        .join("meta.json");
    let text = std::fs::read_to_string(&meta).map_err(|_| EndpointError::UnknownContext {
        name: name.to_owned(),
        origin: source.to_owned(),
        meta: meta.clone(),
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| EndpointError::Unreadable {
            path: meta.clone(),
            message: e.to_string(),
        })?;
    let host = json
        .pointer("/Endpoints/docker/Host")
        .and_then(|h| h.as_str())
        .ok_or_else(|| EndpointError::Unreadable {
            path: meta.clone(),
            message: "no Endpoints.docker.Host".to_owned(),
        })?;
    parse_host(host, &format!("context `{name}` ({source})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve_with(vars: &[(&str, &str)], home: Option<&Path>) -> Result<Endpoint, EndpointError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let var = move |k: &str| vars.get(k).cloned();
        resolve(&Lookup {
            var: &var,
            home: home.map(Path::to_owned),
        })
    }

    fn write_context(config_dir: &Path, name: &str, host: &str) {
        let hex: String = Sha256::digest(name.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let dir = config_dir.join("contexts/meta").join(hex);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("meta.json"),
            format!(r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#),
        )
        .unwrap();
    }

    #[test]
    fn docker_host_wins() {
        let ep = resolve_with(
            &[
                ("DOCKER_HOST", "tcp://127.0.0.1:2375"),
                ("DOCKER_CONTEXT", "x"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(ep.address, Address::Tcp("127.0.0.1:2375".into()));
        assert_eq!(ep.source, "DOCKER_HOST");
        let ep = resolve_with(
            &[("DOCKER_HOST", "unix:///run/user/1000/docker.sock")],
            None,
        )
        .unwrap();
        assert_eq!(
            ep.address,
            Address::Unix("/run/user/1000/docker.sock".into())
        );
        let ep = resolve_with(&[("DOCKER_HOST", "tcp://10.0.0.1")], None).unwrap();
        assert_eq!(ep.address.to_string(), "tcp://10.0.0.1:2375");
    }

    #[test]
    fn ssh_targets_as_the_docker_cli_reads_them() {
        let target = |host: &str| match resolve_with(&[("DOCKER_HOST", host)], None) {
            Ok(Endpoint {
                address: Address::Ssh(t),
                ..
            }) => t,
            other => panic!("{host}: {other:?}"),
        };
        let t = target("ssh://devbox");
        assert_eq!((t.user, t.host.as_str(), t.port), (None, "devbox", None));
        let t = target("ssh://me@build.example.com:2222");
        assert_eq!(t.destination(), "me@build.example.com");
        assert_eq!(t.port, Some(2222));
        assert_eq!(t.to_string(), "ssh://me@build.example.com:2222");
        let t = target("ssh://root@[fd00::2]:22/");
        assert_eq!((t.host.as_str(), t.port), ("fd00::2", Some(22)));
        assert_eq!(t.to_string(), "ssh://root@[fd00::2]:22");
    }

    #[test]
    fn garbage_is_refused() {
        for host in [
            "ssh://",
            "ssh://@box",
            "ssh://box:port",
            "ssh://box/path",
            "ssh://-oProxyCommand=x",
            "npipe:////./pipe/docker_engine",
            "tcp://",
            "localhost:2375",
        ] {
            assert!(
                matches!(
                    resolve_with(&[("DOCKER_HOST", host)], None),
                    Err(EndpointError::Unsupported { .. })
                ),
                "{host}"
            );
        }
    }

    #[test]
    fn contexts_from_env_and_config() {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join(".docker");
        write_context(
            &config,
            "colima",
            "unix:///home/me/.colima/default/docker.sock",
        );
        write_context(&config, "remote", "tcp://192.0.2.1:2376");
        std::fs::write(
            config.join("config.json"),
            r#"{"auths":{},"currentContext":"colima"}"#,
        )
        .unwrap();

        let ep = resolve_with(&[], Some(home.path())).unwrap();
        assert_eq!(
            ep.address,
            Address::Unix("/home/me/.colima/default/docker.sock".into())
        );
        assert!(
            ep.source.starts_with("context `colima` (currentContext in"),
            "{}",
            ep.source
        );

        let ep = resolve_with(&[("DOCKER_CONTEXT", "remote")], Some(home.path())).unwrap();
        assert_eq!(ep.address, Address::Tcp("192.0.2.1:2376".into()));

        let err = resolve_with(&[("DOCKER_CONTEXT", "nope")], Some(home.path())).unwrap_err();
        assert!(
            matches!(err, EndpointError::UnknownContext { .. }),
            "{err:?}"
        );

        // DOCKER_CONFIG moves the config dir.
        let other = tempfile::tempdir().unwrap();
        write_context(other.path(), "alt", "tcp://127.0.0.1:9999");
        std::fs::write(
            other.path().join("config.json"),
            r#"{"currentContext":"alt"}"#,
        )
        .unwrap();
        let ep = resolve_with(
            &[("DOCKER_CONFIG", other.path().to_str().unwrap())],
            Some(home.path()),
        )
        .unwrap();
        assert_eq!(ep.address, Address::Tcp("127.0.0.1:9999".into()));
    }

    #[test]
    fn default_context_and_nothing_mean_the_default_socket() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".docker")).unwrap();
        std::fs::write(
            home.path().join(".docker/config.json"),
            r#"{"currentContext":"default"}"#,
        )
        .unwrap();
        for ep in [
            resolve_with(&[], Some(home.path())).unwrap(),
            resolve_with(&[], None).unwrap(),
        ] {
            assert_eq!(ep.address, Address::Unix(DEFAULT_SOCKET.into()));
        }
    }
}
