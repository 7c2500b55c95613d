//! Port preflight: before anything is created, every published host port
//! must be free or already ours. A port can be held by a process (a socket
//! we can see) or by another container (the engine's NAT rules hold it with
//! no visible socket), so both are checked, and the holder is named.

use super::StackError;
use crate::engine::Container;
use crate::engine::spec::{ContainerSpec, LABEL_PROJECT};
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

pub fn preflight(
    plan: &Plan,
    specs: &[ContainerSpec],
    containers: &[Container],
) -> Result<(), StackError> {
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
            let taken = |holder: String| StackError::PortTaken {
                port: format!("{}:{number}/{}", ip, port.protocol),
                holder,
                service: format!("{}/{}", spec.project, spec.service),
                config_file: project.config.file.clone(),
                pos: port.pos,
            };
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
            if ours {
                continue;
            }
            if let Err(e) = try_bind(ip, number, &port.protocol)
                && e.kind() == std::io::ErrorKind::AddrInUse
            {
                let holder = holder_of(number, &port.protocol);
                // Our own container, restarting or with its start still in
                // flight (an `up` re-run right after Ctrl-C): its port is
                // held by the engine's proxy for it, and it is ours to
                // (re)start.
                let own_container = containers.iter().any(|c| c.name == spec.name);
                if own_container
                    && holder
                        .as_ref()
                        .is_some_and(|h| h.command.contains("docker-proxy"))
                {
                    continue;
                }
                return Err(taken(holder.map_or_else(
                    || "another process".to_owned(),
                    |h| format!("process {} ({})", h.pid, h.command),
                )));
            }
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
