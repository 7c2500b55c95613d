//! `devrig status`: the plan's containers and the repo's programs in one
//! table (see [`crate::ops::status`]); `--json` prints the report as is.

use super::args::PlanArgs;
use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::engine::ssh::Direction;
use crate::ops::status::{self, StatusOptions};
use crate::supervisor::protocol::{ConnectionState, ForwardState, ProgramState, ProgramStatus};
use crate::ui::{Printer, Tone, pad, width};
use clap::Args;

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// The state column's width.
const STATE: usize = 9;

pub fn run(printer: &Printer, global: &GlobalArgs, args: StatusArgs) -> CmdResult {
    let opts = StatusOptions {
        target: global.target(),
        mode: args.plan.mode,
        fetch: args.plan.remote.read_policy(),
        mirror: args.plan.mirror.registry_mirror,
    };
    let status =
        status::status(&opts, &Renderer::new(printer)).map_err(|e| report::diagnostics(&e))?;
    if printer.is_json() {
        printer.json(&status);
        return Ok(());
    }
    let forwards = forward_rows(&status);
    let width = width(
        status
            .containers
            .iter()
            .map(|r| r.container.as_str())
            .chain(status.programs.iter().map(|p| p.name.as_str()))
            .chain(status.local.iter().map(|l| l.service.as_str()))
            .chain(status.remote.iter().map(|r| r.engine.as_str()))
            .chain(forwards.iter().map(|(listen, ..)| listen.as_str())),
    );
    for row in &status.containers {
        let tone = match (row.state.as_str(), row.health.as_deref()) {
            ("running", Some("healthy") | None) => Tone::Good,
            ("running", _) => Tone::Warn,
            _ => Tone::Bad,
        };
        printer.line(&format!(
            "{}  {}  {}  {}",
            pad(&row.container, width),
            pad(&printer.paint(tone, &row.state), STATE),
            row.status,
            row.ports.join(", ")
        ));
    }
    for local in &status.local {
        let (tone, state) = if local.running {
            (Tone::Good, "running")
        } else {
            (Tone::Bad, "stopped")
        };
        printer.line(&format!(
            "{}  {}  local, from {}",
            pad(&local.service, width),
            pad(&printer.paint(tone, state), STATE),
            local.checkout.display()
        ));
    }
    if let Some(remote) = &status.remote {
        let tone = match remote.connection {
            ConnectionState::Connected => Tone::Good,
            ConnectionState::Reconnecting => Tone::Warn,
        };
        let detail = remote
            .detail
            .as_deref()
            .map_or_else(String::new, |d| format!(": {d}"));
        printer.line(&format!(
            "{}  {}  engine{detail}",
            pad(&remote.engine, width),
            pad(&printer.paint(tone, remote.connection.as_str()), STATE),
        ));
    }
    for (listen, state, what) in &forwards {
        let tone = match state {
            ForwardState::Up => Tone::Good,
            ForwardState::Waiting => Tone::Warn,
            ForwardState::Failed => Tone::Bad,
        };
        printer.line(&format!(
            "{}  {}  {what}",
            pad(listen, width),
            pad(&printer.paint(tone, state.as_str()), STATE),
        ));
    }
    for program in &status.programs {
        let tone = match program.state {
            ProgramState::Running => Tone::Good,
            ProgramState::Starting
            | ProgramState::Backoff
            | ProgramState::Stopping
            | ProgramState::Foreground => Tone::Warn,
            ProgramState::Stopped | ProgramState::Exited | ProgramState::Fatal => Tone::Bad,
        };
        printer.line(&format!(
            "{}  {}  {}",
            pad(&program.name, width),
            pad(&printer.paint(tone, program.state.as_str()), STATE),
            describe(program)
        ));
    }
    Ok(())
}

/// One row per forward: where it listens, its state, and what it is:
/// `forward to devbox 127.0.0.1:5432 (devrig/postgres)`.
fn forward_rows(status: &status::StatusReport) -> Vec<(String, ForwardState, String)> {
    let Some(remote) = &status.remote else {
        return Vec::new();
    };
    let host = remote.engine.trim_start_matches("ssh://");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    remote
        .forwards
        .iter()
        .map(|f| {
            let forward = &f.spec.forward;
            let what = match forward.direction {
                Direction::Local => format!("forward to {host} {}", forward.connect),
                Direction::Remote => format!("forward from {host} to {}", forward.connect),
            };
            let detail = f
                .detail
                .as_deref()
                .map_or_else(String::new, |d| format!(": {d}"));
            (
                forward.listen.to_string(),
                f.state,
                format!("{what} ({}){detail}", f.spec.purpose),
            )
        })
        .collect()
}

/// `program, pid 4242, up 5m 3s, 2 restarts` and the like.
fn describe(p: &ProgramStatus) -> String {
    let mut parts = Vec::new();
    if let Some(pid) = p.pid {
        parts.push(format!("pid {pid}"));
    }
    if let Some(up) = p.uptime_secs {
        parts.push(format!("up {}", uptime(up)));
    }
    if p.restarts > 0 {
        parts.push(format!(
            "{} restart{}",
            p.restarts,
            if p.restarts == 1 { "" } else { "s" }
        ));
    }
    if p.pid.is_none()
        && let Some(how) = &p.last_exit
    {
        parts.push(format!("last {how}"));
    }
    if parts.is_empty() {
        "program".to_owned()
    } else {
        format!("program, {}", parts.join(", "))
    }
}

/// `3h 2m`, `5m 3s`, `12s`.
fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_read_like_durations() {
        assert_eq!(uptime(0), "0s");
        assert_eq!(uptime(59), "59s");
        assert_eq!(uptime(303), "5m 3s");
        assert_eq!(uptime(3 * 3600 + 120 + 5), "3h 2m");
        assert_eq!(uptime(2 * 86_400 + 3600), "2d 1h");
    }
}
