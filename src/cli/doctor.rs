//! `devenv doctor`: is this clone's toolchain what the repo needs, and is
//! the Docker engine there? One line per check, with the exact fix (see
//! [`crate::ops::doctor`]).

use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::ops::doctor::{self, DoctorOptions};
use crate::toolchain::Outcome;
use crate::ui::{Printer, Tone, pad, width};
use clap::Args;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Apply the fixes that are safe (create the venv, `direnv allow`, `corepack enable pnpm`)
    #[arg(long)]
    pub fix: bool,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: DoctorArgs) -> CmdResult {
    let opts = DoctorOptions {
        target: global.target(),
        fix: args.fix,
    };
    let report =
        doctor::doctor(&opts, &Renderer::new(printer)).map_err(|e| report::diagnostics(&e))?;
    let checks = &report.checks;
    if printer.is_json() {
        printer.json(checks);
    } else {
        let width = width(checks.iter().map(|c| c.id));
        for check in checks {
            let mark = match check.outcome {
                Outcome::Ok => printer.paint(Tone::Good, "ok  "),
                Outcome::Warn => printer.paint(Tone::Warn, "warn"),
                Outcome::Fail => printer.paint(Tone::Bad, "FAIL"),
            };
            printer.line(&format!(
                "{mark} {}  {}",
                pad(check.id, width),
                check.finding
            ));
            if check.outcome != Outcome::Ok
                && let Some(fix) = &check.fix
            {
                printer.line(&format!(
                    "     {}  {} {fix}",
                    pad("", width),
                    printer.paint(Tone::Accent, "fix:")
                ));
            }
        }
    }
    // The findings are the report; the exit code tells CI.
    match report.failure() {
        Some(failed) => Err(report::diagnostics(&failed.into())),
        None => Ok(()),
    }
}
