//! `devrig status`: the plan's containers (one engine query) and the repo's
//! supervised programs (one socket request), in one table.

use super::{CmdResult, GlobalArgs, report};
use super::{context, programs};
use crate::plan::Plan;
use crate::stack::{self, status::ContainerStatus};
use crate::supervisor::client;
use crate::supervisor::protocol::{ProgramState, ProgramStatus, Request};
use crate::ui::{Printer, Style};
use clap::Args;
use serde::Serialize;

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub plan: context::PlanArgs,
}

#[derive(Serialize)]
struct Status {
    containers: Vec<ContainerStatus>,
    programs: Vec<ProgramStatus>,
    /// The pid of the repo's supervisor, when one runs.
    supervisor_pid: Option<u32>,
    /// Dependencies toggled to run from their own checkouts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    local: Vec<LocalService>,
}

#[derive(Serialize)]
struct LocalService {
    service: String,
    checkout: std::path::PathBuf,
    /// Whether it is up (started from its checkout).
    running: bool,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: StatusArgs) -> CmdResult {
    let plan = args.plan.plan(printer, global)?;
    let specs = args.plan.specs(&plan);
    let (programs, supervisor_pid) = program_rows(&plan)?;
    let containers = if specs.is_empty() {
        Vec::new()
    } else {
        let rt = context::runtime()?;
        rt.block_on(async {
            let engine = context::engine(printer).await?;
            stack::status::status(&engine, &specs)
                .await
                .map_err(|e| report::engine_error(&e))
        })?
    };
    let state = context::peek_state();
    let local = plan
        .local
        .iter()
        .filter_map(|service| {
            Some(LocalService {
                service: service.clone(),
                checkout: state.local.get(service)?.checkout.clone(),
                running: state.services.contains_key(service),
            })
        })
        .collect();
    let status = Status {
        containers,
        programs,
        supervisor_pid,
        local,
    };
    if printer.json {
        printer.json(&status);
        return Ok(());
    }
    let width = status
        .containers
        .iter()
        .map(|r| r.container.len())
        .chain(status.programs.iter().map(|p| p.name.len()))
        .chain(status.local.iter().map(|l| l.service.len()))
        .max()
        .unwrap_or(0);
    for row in &status.containers {
        let state = match (row.state.as_str(), row.health.as_deref()) {
            ("running", Some("healthy") | None) => printer.paint(Style::Green, &row.state),
            ("running", _) => printer.paint(Style::Yellow, &row.state),
            _ => printer.paint(Style::Red, &row.state),
        };
        printer.line(&format!(
            "{:<width$}  {state:<9}  {}  {}",
            row.container,
            row.status,
            row.ports.join(", ")
        ));
    }
    for local in &status.local {
        let (style, state) = if local.running {
            (Style::Green, "running")
        } else {
            (Style::Red, "stopped")
        };
        printer.line(&format!(
            "{:<width$}  {:<9}  local, from {}",
            local.service,
            printer.paint(style, state),
            local.checkout.display()
        ));
    }
    for program in &status.programs {
        let style = match program.state {
            ProgramState::Running => Style::Green,
            ProgramState::Starting
            | ProgramState::Backoff
            | ProgramState::Stopping
            | ProgramState::Foreground => Style::Yellow,
            ProgramState::Stopped | ProgramState::Exited | ProgramState::Fatal => Style::Red,
        };
        let state = printer.paint(style, program.state.as_str());
        printer.line(&format!(
            "{:<width$}  {state:<9}  {}",
            program.name,
            describe(program)
        ));
    }
    Ok(())
}

/// The supervisor's programs, plus the plan's programs it does not run
/// (shown as stopped), so a missing supervisor reads as such.
fn program_rows(plan: &Plan) -> Result<(Vec<ProgramStatus>, Option<u32>), crate::ui::Diagnostic> {
    let report =
        client::request(&plan.root, &Request::Status).map_err(|e| programs::client_error(&e))?;
    let (mut rows, pid) = match report {
        Some(r) => (r.programs, Some(r.supervisor_pid)),
        None => (Vec::new(), None),
    };
    for name in &plan.projects[&plan.root].programs {
        if !rows.iter().any(|r| &r.name == name) {
            rows.push(ProgramStatus {
                name: name.clone(),
                state: ProgramState::Stopped,
                pid: None,
                uptime_secs: None,
                restarts: 0,
                last_exit: None,
                log: crate::supervisor::paths::program_log(&plan.root, name),
            });
        }
    }
    Ok((rows, pid))
}

/// `program  pid 4242, up 5m 3s, 2 restarts` and the like.
fn describe(p: &ProgramStatus) -> String {
    let mut parts = Vec::new();
    if let Some(pid) = p.pid {
        parts.push(format!("pid {pid}"));
    }
    if let Some(up) = p.uptime_secs {
        parts.push(format!("up {}", programs::uptime(up)));
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
