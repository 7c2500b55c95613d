//! Conflicts only visible across the whole plan: two services publishing the
//! same host address and port (two repos each bringing a postgres on
//! 127.0.0.1:5432), or two containers with one `container_name`. Found at
//! plan time, both claimants named, instead of by the engine half-way
//! through a start.

use super::{Project, Source};
use crate::config::yaml::Pos;
use indexmap::IndexMap;
use std::net::IpAddr;
use std::path::PathBuf;

/// One side of a conflict: which service, from which repo, written where.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub project: String,
    pub service: String,
    /// `repo_name` of a remote, or `local` for the repo devrig runs in.
    pub repo: String,
    pub file: PathBuf,
    pub pos: Pos,
}

impl Claim {
    pub fn describe(&self) -> String {
        format!("{}/{} (repo {})", self.project, self.service, self.repo)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub what: String,
    pub first: Claim,
    pub second: Claim,
    pub hint: String,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is claimed by {} and {}",
            self.what,
            self.first.describe(),
            self.second.describe()
        )
    }
}

fn claim(name: &str, project: &Project, service: &str, pos: Pos) -> Claim {
    Claim {
        project: name.to_owned(),
        service: service.to_owned(),
        repo: match &project.source {
            Source::Local => "local".to_owned(),
            Source::Remote { repo_name, .. } => repo_name.clone(),
        },
        file: project.config.file.clone(),
        pos,
    }
}

/// Every conflict among the services the plan starts.
pub fn find(projects: &IndexMap<String, Project>) -> Vec<Conflict> {
    let mut conflicts = Vec::new();
    let mut ports: Vec<(Option<IpAddr>, u16, String, Claim)> = Vec::new();
    let mut names: Vec<(String, Claim)> = Vec::new();
    for (name, project) in projects {
        for service_name in &project.services {
            let Some(service) = project.config.services.get(service_name) else {
                continue;
            };
            for port in &service.ports {
                let Some(number) = port
                    .published
                    .as_deref()
                    .and_then(|p| p.parse::<u16>().ok())
                else {
                    continue;
                };
                let ip = port
                    .host_ip
                    .as_deref()
                    .and_then(|ip| ip.parse::<IpAddr>().ok());
                let here = claim(name, project, service_name, port.pos);
                let clash = ports.iter().find(|(other_ip, other_port, proto, other)| {
                    *other_port == number
                        && *proto == port.protocol
                        && overlaps(*other_ip, ip)
                        && (other.project != here.project || other.service != here.service)
                });
                if let Some((_, _, _, other)) = clash {
                    conflicts.push(Conflict {
                        what: format!(
                            "host port {}:{number}/{}",
                            ip.map_or_else(|| "0.0.0.0".to_owned(), |i| i.to_string()),
                            port.protocol
                        ),
                        first: other.clone(),
                        second: here.clone(),
                        hint: "use the shared dependency instead of a second copy, or publish one of them on another host port".to_owned(),
                    });
                }
                ports.push((ip, number, port.protocol.clone(), here));
            }
            let container = crate::engine::spec::container_name(name, service);
            let here = claim(name, project, service_name, service.pos);
            if let Some((_, other)) = names.iter().find(|(n, _)| *n == container) {
                conflicts.push(Conflict {
                    what: format!("container name `{container}`"),
                    first: other.clone(),
                    second: here.clone(),
                    hint: "rename one `container_name`, or drop it and let the project name the container".to_owned(),
                });
            }
            names.push((container, here));
        }
    }
    // Programs run on the host: a port one declares clashes with a
    // container publishing it, or with another program.
    for (name, project) in projects {
        for program_name in &project.programs {
            let Some(program) = project.config.programs.get(program_name) else {
                continue;
            };
            for port in &program.ports {
                let ip = port
                    .host_ip
                    .as_deref()
                    .and_then(|ip| ip.parse::<IpAddr>().ok());
                let here = claim(name, project, program_name, port.pos);
                let clash = ports.iter().find(|(other_ip, other_port, proto, _)| {
                    *other_port == port.port && proto == "tcp" && overlaps(*other_ip, ip)
                });
                if let Some((_, _, _, other)) = clash {
                    conflicts.push(Conflict {
                        what: format!(
                            "host port {}:{}/tcp",
                            ip.map_or_else(|| "0.0.0.0".to_owned(), |i| i.to_string()),
                            port.port
                        ),
                        first: other.clone(),
                        second: here.clone(),
                        hint: "change the program's port or the container's published port"
                            .to_owned(),
                    });
                }
                ports.push((ip, port.port, "tcp".to_owned(), here));
            }
        }
    }
    conflicts
}

/// Whether two host addresses can collide: equal, or either is "all"
/// (an unknown address counts as "all").
pub fn overlaps(a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || a.is_unspecified() || b.is_unspecified(),
        _ => true,
    }
}
