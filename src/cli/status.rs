//! `devrig status`: the plan's containers and the repo's programs in one
//! table (see [`crate::ops::status`]); `--json` prints the report as is.

use super::args::ReadPlanArgs;
use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::engine::ssh::Direction;
use crate::ops::status::{self, StatusOptions};
use crate::stack::status::Readiness;
use crate::supervisor::protocol::{
    ConnectionState, ForwardState, LogError, ProgramState, ProgramStatus,
};
use crate::ui::{Printer, Tone, pad, width};
use clap::Args;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The service to show (its `service_name`; default: this repo's)
    pub service: Option<String>,
    #[command(flatten)]
    pub plan: ReadPlanArgs,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: StatusArgs) -> CmdResult {
    let opts = StatusOptions {
        target: global.target_for(args.service),
        mode: args.plan.mode,
        fetch: args.plan.remote.read_policy(),
    };
    let status =
        status::status(&opts, &Renderer::new(printer)).map_err(|e| report::diagnostics(&e))?;
    if printer.is_json() {
        printer.json(&status);
        return Ok(());
    }
    let forwards = forward_rows(&status);
    let mut rows: Vec<[String; 5]> = vec![[
        printer.paint(Tone::Dim, "NAME"),
        printer.paint(Tone::Dim, "STATE"),
        printer.paint(Tone::Dim, "HEALTH"),
        printer.paint(Tone::Dim, "DOCKER"),
        printer.paint(Tone::Dim, "PORTS"),
    ]];
    let none = || printer.paint(Tone::Dim, "-");
    for row in &status.containers {
        let state = match (row.state.as_str(), row.exit_code) {
            ("running", _) => printer.paint(Tone::Good, "running"),
            // As `down` leaves it: stopped, not failed.
            ("exited", Some(0)) => printer.paint(Tone::Dim, "stopped"),
            ("exited", Some(code)) => printer.paint(Tone::Bad, &format!("exited ({code})")),
            (other, _) => printer.paint(Tone::Bad, other),
        };
        let health = match row.health {
            Readiness::Ready => printer.paint(Tone::Good, "ready"),
            Readiness::Starting => printer.paint(Tone::Warn, "starting"),
            Readiness::Unhealthy => printer.paint(Tone::Bad, "unhealthy"),
            Readiness::None => none(),
        };
        let ports: Vec<String> = row
            .ports
            .iter()
            .map(|p| {
                let proto = if p.protocol == "tcp" {
                    String::new()
                } else {
                    format!("/{}", p.protocol)
                };
                format!("{}:{}->{}{proto}", p.host_ip, p.host_port, p.container_port)
            })
            .collect();
        rows.push([
            row.container.clone(),
            state,
            health,
            row.status.clone(),
            ports.join(", "),
        ]);
    }
    for local in &status.local {
        let state = if local.running {
            printer.paint(Tone::Good, "running")
        } else {
            printer.paint(Tone::Dim, "stopped")
        };
        rows.push([
            local.service.clone(),
            state,
            none(),
            format!("local, from {}", local.checkout.display()),
            String::new(),
        ]);
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
        rows.push([
            remote.engine.clone(),
            printer.paint(tone, remote.connection.as_str()),
            none(),
            format!("engine{detail}"),
            String::new(),
        ]);
    }
    for (listen, state, what) in &forwards {
        let tone = match state {
            ForwardState::Up => Tone::Good,
            ForwardState::Waiting => Tone::Warn,
            ForwardState::Failed => Tone::Bad,
        };
        rows.push([
            listen.clone(),
            printer.paint(tone, state.as_str()),
            none(),
            what.clone(),
            String::new(),
        ]);
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
        // A log that cannot be written is the one health a program has
        // that devrig can see: it runs on, its output is being lost.
        let health = match &program.log_error {
            Some(_) => printer.paint(Tone::Bad, "log failing"),
            None => none(),
        };
        rows.push([
            program.name.clone(),
            printer.paint(tone, program.state.as_str()),
            health,
            describe(program),
            String::new(),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| width(rows.iter().map(|r| r[i].as_str())))
        .collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| pad(cell, *w))
            .collect();
        printer.line(cells.join("  ").trim_end());
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
    if let Some(failing) = &p.log_error {
        parts.push(log_failing(failing));
    }
    if parts.is_empty() {
        "program".to_owned()
    } else {
        format!("program, {}", parts.join(", "))
    }
}

/// `log unwritable since 2026-11-26T09:30:05Z (No space left on device
/// (os error 28)), 12.0 KiB held, 1.5 MiB dropped`.
fn log_failing(e: &LogError) -> String {
    let mut text = format!("log unwritable since {} ({})", e.since, e.error);
    if e.held_bytes > 0 {
        text.push_str(&format!(", {} held", bytes(e.held_bytes)));
    }
    if e.dropped_bytes > 0 {
        text.push_str(&format!(", {} dropped", bytes(e.dropped_bytes)));
    }
    text
}

/// `512 B`, `12.0 KiB`, `1.5 MiB`.
fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
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

    #[test]
    fn a_failing_log_says_since_when_and_what_it_cost() {
        let mut e = LogError {
            error: "No space left on device (os error 28)".to_owned(),
            since: "2026-11-26T09:30:05Z".to_owned(),
            dropped_bytes: 0,
            held_bytes: 0,
        };
        assert_eq!(
            log_failing(&e),
            "log unwritable since 2026-11-26T09:30:05Z (No space left on device (os error 28))"
        );
        (e.held_bytes, e.dropped_bytes) = (65_536, 3 * 1_048_576 / 2);
        assert!(log_failing(&e).ends_with(", 64.0 KiB held, 1.5 MiB dropped"));
        assert_eq!(bytes(512), "512 B");
    }
}
