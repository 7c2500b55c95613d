//! Which Docker engine to talk to, decided as the docker CLI decides it:
//! `DOCKER_HOST`, then `DOCKER_CONTEXT`, then `currentContext` in the docker
//! config dir's `config.json` (the context's endpoint in its `meta.json`),
//! then the default socket. bollard does not read contexts, so a user whose
//! Docker Desktop or colima context is current would otherwise reach the
//! wrong (or no) engine.

use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    /// `host:port` for plain HTTP.
    Tcp(String),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix://{}", path.display()),
            Address::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
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
                "devrig speaks to engines over unix:// sockets and plain tcp://; use `docker context ls` to find one".to_owned()
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
    fn ssh_and_garbage_are_refused() {
        for host in [
            "ssh://me@box",
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
