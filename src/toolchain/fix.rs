//! Applying the safe fixes: the ones that only add something (a venv, a
//! direnv approval, corepack's pnpm shims). Anything else (recreating a
//! venv, installing a toolchain, editing a shell rc) stays a fix text for
//! the user to run.

use super::checks::{self, Action, Check, Ctx};
use super::env::HostEnv;
use super::requirements;
use super::run::{self, FIX_TIMEOUT};
use crate::config::ConfigError;
use std::path::Path;

/// A fix that ran, and the check afterwards.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    /// The command that ran, as the user would type it.
    pub command: String,
    /// The check run again after the fix.
    pub check: Check,
}

/// Why a fix was not applied.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    /// No check has this id.
    #[error("there is no check `{0}`")]
    UnknownCheck(String),
    /// The repo's own files cannot be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The check does not run for this repo.
    #[error("`{0}` does not apply to this repo")]
    NotApplicable(String),
    /// The check passes already.
    #[error("`{id}` passes; there is nothing to fix")]
    NothingToFix {
        /// The check.
        id: String,
    },
    /// The fix is not one devrig applies by itself.
    #[error("`{id}` cannot be fixed automatically: {finding}")]
    NotFixable {
        /// The check.
        id: String,
        /// What the check found.
        finding: String,
        /// What the user can run instead.
        fix: Option<String>,
    },
    /// The fix's command failed.
    #[error("`{command}` failed: {detail}")]
    Failed {
        /// What ran.
        command: String,
        /// What it said, or how it ended.
        detail: String,
    },
}

impl FixError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            FixError::UnknownCheck(_) => Some(format!("checks: {}", checks::ALL.join(", "))),
            FixError::NotFixable { fix: Some(fix), .. } => Some(format!("run it yourself: {fix}")),
            _ => None,
        }
    }
}

/// Runs the check `check_id` and, when it fails with a safe fix, applies the
/// fix and runs the check again.
pub fn apply_fix(check_id: &str, repo_root: &Path, env: &HostEnv) -> Result<Applied, FixError> {
    if !checks::ALL.contains(&check_id) {
        return Err(FixError::UnknownCheck(check_id.to_owned()));
    }
    let reqs = requirements::load(repo_root)?;
    let ctx = Ctx {
        root: repo_root,
        env,
        reqs: &reqs,
        docker: None,
    };
    let probe = checks::probe_one(&ctx, check_id)
        .ok_or_else(|| FixError::NotApplicable(check_id.to_owned()))?;
    let Some(action) = probe.action else {
        return Err(if probe.check.outcome == checks::Outcome::Ok {
            FixError::NothingToFix {
                id: check_id.to_owned(),
            }
        } else {
            FixError::NotFixable {
                id: check_id.to_owned(),
                finding: probe.check.finding,
                fix: probe.check.fix,
            }
        });
    };
    let command = run_action(&ctx, &action)?;
    let check = checks::probe_one(&ctx, check_id)
        .map(|p| p.check)
        .ok_or_else(|| FixError::NotApplicable(check_id.to_owned()))?;
    Ok(Applied { command, check })
}

fn run_action(ctx: &Ctx, action: &Action) -> Result<String, FixError> {
    let (program, args): (&Path, Vec<&str>) = match action {
        Action::CreateVenv { python, venv } => (python, vec!["-m", "venv", venv]),
        Action::DirenvAllow { direnv } => (direnv, vec!["allow"]),
        Action::CorepackEnable { corepack } => (corepack, vec!["enable", "pnpm"]),
    };
    let mut cmd = run::command(program, ctx.root, ctx.env);
    cmd.args(&args);
    let shown = run::display(&cmd);
    let out = run::run(cmd, FIX_TIMEOUT).map_err(|e| FixError::Failed {
        command: shown.clone(),
        detail: e.to_string(),
    })?;
    if !out.success() {
        return Err(FixError::Failed {
            command: shown,
            detail: out.error_line().to_owned(),
        });
    }
    Ok(shown)
}
