//! Turns an operation's error into what the user reads: the message, where
//! it is (file, line and the source line, for config errors), details, and
//! the hint and exit code the error itself carries.

use crate::config::ConfigError;
use crate::ops::Error;
use crate::plan::PlanError;
use crate::plan::remote::RemoteError;
use crate::stack::StackError;
use crate::toolchain::SyncError;
use crate::ui::{Diagnostic, Diagnostics};

/// Every failure in `error`, in order (several for [`Error::Many`]).
pub fn diagnostics(error: &Error) -> Diagnostics {
    let mut all = Vec::new();
    flatten(error, &mut all);
    Diagnostics::new(all)
}

fn flatten(error: &Error, into: &mut Vec<Diagnostic>) {
    match error {
        Error::Many(errors) => errors.iter().for_each(|e| flatten(e, into)),
        e => into.push(diagnostic(e)),
    }
}

fn diagnostic(error: &Error) -> Diagnostic {
    let d = Diagnostic::new(error.to_string(), error.exit_code()).maybe_hint(error.hint());
    match error {
        Error::Config(e) => config_error(e),
        Error::Plan(e) => plan_error(d, e),
        Error::Stack(e) => stack_error(d, e),
        Error::Sync(e) => sync_error(d, e),
        Error::Fetch(crate::ops::fetch::FetchError::Clone { stderr, .. }) if !stderr.is_empty() => {
            let mut d = d;
            d.details.push(format!("git: {stderr}"));
            d
        }
        Error::Conflict(c) => {
            let mut d = d.at(c.second.file.clone(), Some(c.second.pos));
            d.also.push((
                format!("also claimed by {}:", c.first.describe()),
                c.first.file.clone(),
                c.first.pos,
            ));
            d
        }
        Error::Snapshot(e) if !e.details().is_empty() => {
            let mut d = d;
            d.details
                .push(format!("its output:\n{}", e.details().join("\n")));
            d
        }
        Error::Serve(crate::ops::serve::ServeError::EmptyCommand { file, pos }) => {
            d.at(file.clone(), Some(*pos))
        }
        _ => d,
    }
}

pub fn config_error(e: &ConfigError) -> Diagnostic {
    Diagnostic::new(e.message.clone(), crate::exit::USAGE)
        .at(e.file.clone(), e.pos)
        .maybe_hint(e.hint.clone())
}

fn plan_error(d: Diagnostic, e: &PlanError) -> Diagnostic {
    match e {
        PlanError::Config(c) => config_error(c),
        PlanError::Remote {
            source,
            requested_at,
        } => {
            let mut d = d.at(requested_at.0.clone(), Some(requested_at.1));
            if let RemoteError::Fetch { stderr, .. } = source
                && !stderr.is_empty()
            {
                d.details.push(format!("git: {stderr}"));
            }
            d
        }
        PlanError::RemoteConfig {
            repo_name,
            branch,
            source,
        } => Diagnostic {
            message: format!(
                "in remote `{repo_name}` (branch `{branch}`): {}",
                source.message
            ),
            ..d
        }
        .at(source.file.clone(), source.pos),
        PlanError::UnknownMode { requested_at, .. } => match requested_at {
            Some((file, pos)) => d.at(file.clone(), Some(*pos)),
            None => d,
        },
        PlanError::RemoteCycle { .. } => d,
        PlanError::RepoConflict {
            first_at,
            second_at,
            ..
        } => {
            let mut d = d.at(second_at.0.clone(), Some(second_at.1));
            d.also.push((
                "first declared here:".to_owned(),
                first_at.0.clone(),
                first_at.1,
            ));
            d
        }
        PlanError::ProjectConflict { at, .. } => d.at(at.0.clone(), Some(at.1)),
    }
}

fn stack_error(d: Diagnostic, e: &StackError) -> Diagnostic {
    match e {
        StackError::PortTaken {
            service,
            config_file,
            pos,
            ..
        } => Diagnostic {
            message: format!("{e} (needed by {service})"),
            ..d
        }
        .at(config_file.clone(), Some(*pos)),
        StackError::UlimitTooHigh {
            config_file, pos, ..
        } => d.at(config_file.clone(), Some(*pos)),
        StackError::UlimitRefused {
            config_file, pos, ..
        } => d.at(config_file.clone(), *pos),
        StackError::BindOutside {
            config_file, pos, ..
        }
        | StackError::Refused {
            config_file, pos, ..
        } => d.at(config_file.clone(), Some(*pos)),
        StackError::Timeout {
            last_output, logs, ..
        } => {
            let mut d = d;
            if let Some(out) = last_output {
                d.details.push(format!("last probe: {out}"));
            }
            if !logs.is_empty() {
                d.details
                    .push(format!("last log lines:\n{}", logs.join("\n")));
            }
            d
        }
        StackError::Exited { logs, .. } => {
            let mut d = d;
            if !logs.is_empty() {
                d.details
                    .push(format!("last log lines:\n{}", logs.join("\n")));
            }
            d
        }
        _ => d,
    }
}

fn sync_error(d: Diagnostic, e: &SyncError) -> Diagnostic {
    match e {
        SyncError::Config(c) => config_error(c),
        SyncError::Blocked { checks } => {
            let mut d = d;
            for check in checks {
                let mut detail = format!("{}: {}", check.id, check.finding);
                if let Some(fix) = &check.fix {
                    detail.push_str(&format!("\n  fix: {fix}"));
                }
                d.details.push(detail);
            }
            d
        }
        SyncError::Provision {
            error:
                crate::toolchain::provision::ProvisionError::Checksum {
                    expected,
                    actual,
                    expected_from,
                    ..
                },
            ..
        } => {
            let mut d = d;
            d.details.push(format!(
                "expected: {expected} ({expected_from})\nactual:   {actual}"
            ));
            d
        }
        SyncError::StepFailed { tail, .. } => {
            let mut d = d;
            d.details.push(if tail.is_empty() {
                "(no output)".to_owned()
            } else {
                tail.join("\n")
            });
            d
        }
        _ => d,
    }
}
