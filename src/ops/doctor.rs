//! `doctor`: is this clone's toolchain what the repo needs, and is the
//! Docker engine there? Every check of the toolchain's registry, the safe
//! fixes applied when asked.

use super::{Error, Event, Observer, Target};
use crate::toolchain::{self, Check, HostEnv, Outcome};

#[derive(Debug, Clone)]
pub struct DoctorOptions {
    pub target: Target,
    /// Apply the fixes that are safe (create the venv, `direnv allow`,
    /// `corepack enable pnpm`).
    pub fix: bool,
}

/// Every check's outcome, in the registry's order.
#[derive(Debug, Clone)]
pub struct DoctorReport {
    pub checks: Vec<Check>,
}

/// Some checks failed: the findings are the report, this is the exit code.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} checks failed")]
pub struct ChecksFailed {
    pub failed: usize,
    pub total: usize,
}

impl ChecksFailed {
    pub fn hint(&self) -> String {
        "apply the fixes above; `devenv doctor --fix` applies the safe ones".to_owned()
    }
}

impl DoctorReport {
    /// The failure to exit with, when any check failed.
    pub fn failure(&self) -> Option<ChecksFailed> {
        let failed = self
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .count();
        (failed > 0).then_some(ChecksFailed {
            failed,
            total: self.checks.len(),
        })
    }
}

pub fn doctor(opts: &DoctorOptions, observer: &dyn Observer) -> Result<DoctorReport, Error> {
    let root = opts.target.repo_root()?;
    let env = HostEnv::from_process();
    let config = opts.target.config_path().ok();
    let mut checks = toolchain::doctor_with_engine(&root, config.as_deref(), &env)?;
    if opts.fix {
        for check in checks
            .iter_mut()
            .filter(|c| c.fixable && c.outcome != Outcome::Ok)
        {
            match toolchain::apply_fix(check.id, &root, &env) {
                Ok(applied) => {
                    observer.event(Event::Fixed {
                        check: check.id.to_owned(),
                        command: applied.command.clone(),
                    });
                    *check = applied.check;
                }
                Err(e) => observer.event(Event::Warning(format!("{}: {e}", check.id))),
            }
        }
    }
    Ok(DoctorReport { checks })
}
