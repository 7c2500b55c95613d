//! Which ports a stack on a remote engine forwards, so that it feels local:
//!
//! - every TCP host port a container of the plan publishes there
//!   (`127.0.0.1:5432:5432`) is listened on at the same address and port
//!   here, and reaches that port on the remote host (`psql -h 127.0.0.1`
//!   on the laptop reaches the remote postgres);
//! - every host port the repo's `x-programs` declare (`ports: [8000]`, the
//!   dev server) is listened on there, at the address containers know as
//!   `host.docker.internal` (`host-gateway`: the engine's bridge gateway),
//!   and reaches the program here.
//!
//! SSH forwards TCP only: a UDP port, or a container port without a fixed
//! host port, is not forwarded, and a warning says so.

use crate::config::yaml::Pos;
use crate::engine::ssh::{Direction, Forward, Sock};
use crate::plan::{Plan, UnitKind};
use std::net::IpAddr;
use std::path::PathBuf;

/// A range wider than this is not a stack's port list but a mistake; it is
/// not opened port by port.
const MAX_RANGE: u16 = 100;

/// One forward the plan wants, and where the config asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub forward: Forward,
    /// `devrig/postgres`, `program devserver`.
    pub purpose: String,
    pub config_file: PathBuf,
    pub pos: Pos,
}

/// The forwards of `plan` with the remote's bridge gateway `gateway` (the
/// reverse forwards need it), and warnings about what is not forwarded.
pub fn wanted(plan: &Plan, gateway: Option<&str>) -> (Vec<Wanted>, Vec<String>) {
    let mut wanted = Vec::new();
    let mut warnings = Vec::new();
    for unit in plan.levels.iter().flatten() {
        if unit.kind != UnitKind::Container {
            continue;
        }
        let project = &plan.projects[&unit.project];
        let service = &project.config.services[&unit.name];
        let purpose = format!("{}/{}", unit.project, unit.name);
        for port in &service.ports {
            let Some(published) = port.published.as_deref() else {
                warnings.push(format!(
                    "{purpose}: container port {} has no fixed host port, so it is not forwarded from the remote engine",
                    port.target
                ));
                continue;
            };
            if port.protocol != "tcp" {
                warnings.push(format!(
                    "{purpose}: port {published}/{} is not forwarded from the remote engine (SSH forwards TCP only)",
                    port.protocol
                ));
                continue;
            }
            let Some(numbers) = host_ports(published) else {
                warnings.push(format!(
                    "{purpose}: host ports {published} are not forwarded from the remote engine (more than {MAX_RANGE})"
                ));
                continue;
            };
            let listen = port.host_ip.clone().unwrap_or_else(|| "0.0.0.0".to_owned());
            for number in numbers {
                wanted.push(Wanted {
                    forward: Forward {
                        direction: Direction::Local,
                        listen: Sock {
                            host: listen.clone(),
                            port: number,
                        },
                        connect: Sock {
                            host: reachable(port.host_ip.as_deref()),
                            port: number,
                        },
                    },
                    purpose: purpose.clone(),
                    config_file: project.config.file.clone(),
                    pos: port.pos,
                });
            }
        }
    }
    let root = &plan.projects[&plan.root].config;
    for (name, program) in &root.programs {
        for port in &program.ports {
            let Some(gateway) = gateway else {
                warnings.push(format!(
                    "program {name}: port {} is not reachable from the remote engine's containers (the engine names no bridge gateway)",
                    port.port
                ));
                continue;
            };
            wanted.push(Wanted {
                forward: Forward {
                    direction: Direction::Remote,
                    listen: Sock {
                        host: gateway.to_owned(),
                        port: port.port,
                    },
                    connect: Sock {
                        host: reachable(port.host_ip.as_deref()),
                        port: port.port,
                    },
                },
                purpose: format!("program {name}"),
                config_file: root.file.clone(),
                pos: port.pos,
            });
        }
    }
    (wanted, warnings)
}

/// `5432` or `8000-8002`; `None` for a range too wide to open.
fn host_ports(published: &str) -> Option<Vec<u16>> {
    match published.split_once('-') {
        None => published.parse().ok().map(|p| vec![p]),
        Some((a, b)) => {
            let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b && b - a < MAX_RANGE).then(|| (a..=b).collect())
        }
    }
}

/// Where a port published (or listened on) at `ip` is reached from its own
/// host: that address, or loopback for "every address".
fn reachable(ip: Option<&str>) -> String {
    match ip.map(|ip| (ip, ip.parse::<IpAddr>())) {
        Some((ip, Ok(addr))) if !addr.is_unspecified() => ip.to_owned(),
        Some((ip, Err(_))) => ip.to_owned(),
        _ => "127.0.0.1".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Variables};
    use crate::plan::remote::{FetchPolicy, RemoteCache};

    fn plan(yaml: &str) -> Plan {
        let config = config::load_str(
            std::path::Path::new("/src/app/devservices/config.yml"),
            yaml,
            &Variables::from_pairs([]),
        )
        .unwrap();
        let cache = RemoteCache {
            root: std::env::temp_dir().join("devrig-forwards-test-cache"),
            policy: FetchPolicy::Offline,
        };
        crate::plan::resolve(config, "default", &cache, &Variables::from_pairs([])).unwrap()
    }

    #[test]
    fn published_ports_forward_here_and_program_ports_back() {
        let plan = plan(indoc::indoc! {r#"
            x-sentry-service-config:
              version: 0.1
              service_name: app
              dependencies:
                db: {description: db}
                devserver: {description: the dev server}
              modes:
                default: [db, devserver]
            x-programs:
              devserver:
                command: python3 -m http.server 8000
                ports: [8000, "127.0.0.1:8001"]
            services:
              db:
                image: postgres
                ports:
                  - 127.0.0.1:5432:5432
                  - 9000-9001:9000-9001
                  - 53:53/udp
                  - "7000"
        "#});
        let (wanted, warnings) = wanted(&plan, Some("10.217.0.1"));
        let shown: Vec<String> = wanted
            .iter()
            .map(|w| {
                format!(
                    "{:?} {} {} {}",
                    w.forward.direction, w.forward.listen, w.forward.connect, w.purpose
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                "Local 127.0.0.1:5432 127.0.0.1:5432 app/db",
                "Local 0.0.0.0:9000 127.0.0.1:9000 app/db",
                "Local 0.0.0.0:9001 127.0.0.1:9001 app/db",
                "Remote 10.217.0.1:8000 127.0.0.1:8000 program devserver",
                "Remote 10.217.0.1:8001 127.0.0.1:8001 program devserver",
            ]
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("53/udp"), "{warnings:?}");
        assert!(warnings[1].contains("container port 7000"), "{warnings:?}");
        assert_eq!(host_ports("1-1000"), None);
    }
}
