//! Port preflight: before anything is created, every published host port
//! must be free or already ours. A port can be held by a process (a socket
//! we can see) or by another container (the engine's NAT rules hold it with
//! no visible socket), so both are checked, and the holder is named.
//!
//! For an engine on another machine the check runs on both sides: there,
//! for the containers (the engine's own containers, and what listens on the
//! remote host, read from its `/proc/net/tcp` over the engine's SSH
//! connection); here, for the forwards that bring each port to this
//! machine ([`forwards_preflight`]), where a port the engine's own SSH
//! master already listens on is ours.

use super::StackError;
use super::forwards::Wanted;
use crate::engine::spec::{ContainerSpec, LABEL_PROJECT};
use crate::engine::ssh::Direction;
use crate::engine::{Container, Engine};
use crate::plan::Plan;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

/// The host ports `programs` (of the plan's top-level repo) declare, checked
/// the same way for each one the supervisor does not already run: a program
/// that cannot listen would only crash into `fatal`.
pub fn programs_preflight(plan: &Plan, programs: &[String]) -> Result<(), StackError> {
    let root = &plan.projects[&plan.root];
    for name in programs {
        let Some(program) = root.config.programs.get(name) else {
            continue;
        };
        for port in &program.ports {
            let ip: IpAddr = port
                .host_ip
                .as_deref()
                .and_then(|ip| ip.parse().ok())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            if let Err(e) = try_bind(ip, port.port, "tcp")
                && e.kind() == std::io::ErrorKind::AddrInUse
            {
                return Err(StackError::PortTaken {
                    port: format!("{ip}:{}/tcp", port.port),
                    holder: process_holding(port.port, "tcp")
                        .unwrap_or_else(|| "another process".to_owned()),
                    service: format!("{}/{name}", plan.root),
                    config_file: root.config.file.clone(),
                    pos: port.pos,
                });
            }
        }
    }
    Ok(())
}

/// Refuses, before anything is made, a service whose `ulimits.nofile` is
/// more than the engine can give a container (see
/// [`crate::sys::engine_nofile_ceiling`]); a limit the engine's ceiling
/// cannot be read for is left to the engine (and its refusal translated).
pub fn ulimits_preflight(
    plan: &Plan,
    specs: &[ContainerSpec],
    ceiling: Option<u64>,
) -> Result<(), StackError> {
    let Some(ceiling) = ceiling else {
        return Ok(());
    };
    for spec in specs {
        let project = &plan.projects[&spec.project];
        let service = &project.config.services[&spec.service];
        if let Some(limit) = service.ulimits.get("nofile")
            && u64::try_from(limit.hard()).is_ok_and(|asked| asked > ceiling)
        {
            return Err(StackError::UlimitTooHigh {
                service: format!("{}/{}", spec.project, spec.service),
                name: "nofile".to_owned(),
                asked: limit.hard(),
                ceiling,
                config_file: project.config.file.clone(),
                pos: service
                    .ulimits_at
                    .get("nofile")
                    .copied()
                    .unwrap_or(service.pos),
            });
        }
    }
    Ok(())
}

/// A published port no container of ours holds yet: what the engine's host
/// must have free.
struct Unclaimed<'a> {
    spec: &'a ContainerSpec,
    port: &'a crate::config::compose::Port,
    ip: IpAddr,
    number: u16,
}

pub async fn preflight(
    engine: &Engine,
    plan: &Plan,
    specs: &[ContainerSpec],
    containers: &[Container],
) -> Result<(), StackError> {
    let mut unclaimed = Vec::new();
    for spec in specs {
        let project = &plan.projects[&spec.project];
        let service = &project.config.services[&spec.service];
        for port in &service.ports {
            let Some(published) = port.published.as_deref() else {
                continue;
            };
            let Ok(number) = published.parse::<u16>() else {
                continue;
            };
            let ip: IpAddr = port
                .host_ip
                .as_deref()
                .and_then(|ip| ip.parse().ok())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            let taken = |holder: String| taken(plan, spec, port, ip, number, holder, None);
            // Held by a running container other than the one we would (re)create?
            if let Some(holder) =
                container_holding(containers, &spec.name, ip, number, &port.protocol)
            {
                return Err(taken(holder));
            }
            // Our own running container publishing it: the engine holds the
            // port for us, so a bind test would fail for a harmless reason.
            let ours = containers.iter().any(|c| {
                c.name == spec.name && c.is_running() && publishes(c, ip, number, &port.protocol)
            });
            if !ours {
                unclaimed.push(Unclaimed {
                    spec,
                    port,
                    ip,
                    number,
                });
            }
        }
    }
    let Some(remote) = engine.remote() else {
        for u in unclaimed {
            if let Err(e) = try_bind(u.ip, u.number, &u.port.protocol)
                && e.kind() == std::io::ErrorKind::AddrInUse
            {
                let holder = holder_of(u.number, &u.port.protocol);
                // Our own container, restarting or with its start still in
                // flight (an `up` re-run right after Ctrl-C): its port is
                // held by the engine's proxy for it, and it is ours to
                // (re)start.
                let own_container = containers.iter().any(|c| c.name == u.spec.name);
                if own_container
                    && holder
                        .as_ref()
                        .is_some_and(|h| h.command.contains("docker-proxy"))
                {
                    continue;
                }
                let holder = holder.map_or_else(
                    || "another process".to_owned(),
                    |h| format!("process {} ({})", h.pid, h.command),
                );
                return Err(taken(plan, u.spec, u.port, u.ip, u.number, holder, None));
            }
        }
        return Ok(());
    };
    // One look at the remote's sockets, only when some port needs it (a
    // no-op `up` has every port held by its own containers).
    if unclaimed.iter().all(|u| u.port.protocol != "tcp") {
        return Ok(());
    }
    let listening = remote.listening().await?;
    let host = remote.target.name();
    for u in unclaimed.iter().filter(|u| u.port.protocol == "tcp") {
        if listening.iter().any(|(at, port)| {
            *port == u.number && crate::plan::conflicts::overlaps(Some(*at), Some(u.ip))
        }) {
            let holder = format!("a process on {host}");
            return Err(taken(
                plan,
                u.spec,
                u.port,
                u.ip,
                u.number,
                holder,
                Some(host),
            ));
        }
    }
    Ok(())
}

fn taken(
    plan: &Plan,
    spec: &ContainerSpec,
    port: &crate::config::compose::Port,
    ip: IpAddr,
    number: u16,
    holder: String,
    on: Option<&str>,
) -> StackError {
    let project = &plan.projects[&spec.project];
    StackError::PortTaken {
        port: match on {
            Some(host) => format!("{ip}:{number}/{} on {host}", port.protocol),
            None => format!("{ip}:{number}/{}", port.protocol),
        },
        holder,
        service: format!("{}/{}", spec.project, spec.service),
        config_file: project.config.file.clone(),
        pos: port.pos,
    }
}

/// This machine's side of a remote stack: each forward's listening port
/// must be free here (a local forward) or on the remote (a reverse one),
/// unless it is already held for us: by the engine's SSH master (pid
/// `master`) here, or by one of `active`, the forwards the repo's
/// supervisor keeps up.
pub async fn forwards_preflight(
    engine: &Engine,
    wanted: &[Wanted],
    master: Option<u32>,
    active: &[crate::engine::ssh::Forward],
) -> Result<(), StackError> {
    let Some(remote) = engine.remote() else {
        return Ok(());
    };
    let host = remote.target.name();
    let mut reverse = Vec::new();
    for w in wanted {
        if active.contains(&w.forward) {
            continue;
        }
        let Ok(ip) = w.forward.listen.host.parse::<IpAddr>() else {
            continue;
        };
        let number = w.forward.listen.port;
        match w.forward.direction {
            Direction::Remote => reverse.push((w, ip)),
            Direction::Local => {
                let Err(e) = try_bind(ip, number, "tcp") else {
                    continue;
                };
                if e.kind() != std::io::ErrorKind::AddrInUse {
                    continue;
                }
                let holder = crate::sys::port_holder(number, crate::sys::Transport::Tcp);
                if holder
                    .as_ref()
                    .is_some_and(|h| Some(h.pid) == master.and_then(|m| i32::try_from(m).ok()))
                {
                    continue;
                }
                return Err(StackError::PortTaken {
                    port: format!("{ip}:{number}/tcp on this machine (forwarded from {host})"),
                    holder: holder.map_or_else(
                        || "another process".to_owned(),
                        |h| format!("process {} ({})", h.pid, h.command),
                    ),
                    service: w.purpose.clone(),
                    config_file: w.config_file.clone(),
                    pos: w.pos,
                });
            }
        }
    }
    if reverse.is_empty() {
        return Ok(());
    }
    let listening = remote.listening().await?;
    for (w, ip) in reverse {
        let number = w.forward.listen.port;
        if listening.iter().any(|(at, port)| {
            *port == number && crate::plan::conflicts::overlaps(Some(*at), Some(ip))
        }) {
            return Err(StackError::PortTaken {
                port: format!("{ip}:{number}/tcp on {host} (forwarded back to this machine)"),
                holder: format!("a process on {host}"),
                service: w.purpose.clone(),
                config_file: w.config_file.clone(),
                pos: w.pos,
            });
        }
    }
    Ok(())
}

fn publishes(c: &Container, ip: IpAddr, number: u16, protocol: &str) -> bool {
    c.ports.iter().any(|p| {
        let overlaps = crate::plan::conflicts::overlaps(p.host_ip, Some(ip));
        p.host_port == number && p.protocol.as_str() == protocol && overlaps
    })
}

fn container_holding(
    containers: &[Container],
    ours: &str,
    ip: IpAddr,
    number: u16,
    protocol: &str,
) -> Option<String> {
    containers
        .iter()
        .filter(|c| c.is_running() && c.name != ours)
        .find(|c| publishes(c, ip, number, protocol))
        .map(|c| match c.label(LABEL_PROJECT) {
            Some(project) => format!("container {} (project {project})", c.name),
            None => format!("container {}", c.name),
        })
}

pub(crate) fn try_bind(ip: IpAddr, port: u16, protocol: &str) -> std::io::Result<()> {
    let addr = SocketAddr::new(ip, port);
    match protocol {
        "udp" => UdpSocket::bind(addr).map(drop),
        _ => TcpListener::bind(addr).map(drop),
    }
}

/// The process with a socket on `port`, named for an error message.
pub(crate) fn process_holding(port: u16, protocol: &str) -> Option<String> {
    holder_of(port, protocol).map(|holder| format!("process {} ({})", holder.pid, holder.command))
}

fn holder_of(port: u16, protocol: &str) -> Option<crate::sys::PortHolder> {
    let transport = match protocol {
        "udp" => crate::sys::Transport::Udp,
        _ => crate::sys::Transport::Tcp,
    };
    crate::sys::port_holder(port, transport)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_process_behind_a_port() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let holder = process_holding(port, "tcp").expect("this test process holds it");
        assert!(
            holder.starts_with(&format!("process {}", std::process::id())),
            "{holder}"
        );
        assert!(try_bind("127.0.0.1".parse().unwrap(), port, "tcp").is_err());
    }
}
