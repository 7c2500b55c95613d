//! Turns module errors into CLI diagnostics with their exit codes.

use super::exit;
use crate::config::ConfigError;
use crate::plan::PlanError;
use crate::plan::remote::RemoteError;
use crate::ui::Diagnostic;

pub fn config_error(e: &ConfigError) -> Diagnostic {
    Diagnostic::new(e.message.clone(), exit::USAGE)
        .at(e.file.clone(), e.pos)
        .hint(e.hint.clone())
}

pub fn plan_error(e: &PlanError) -> Diagnostic {
    match e {
        PlanError::Config(c) => config_error(c),
        PlanError::Remote { source, requested_at } => {
            let code = match source {
                RemoteError::LocalChanges { .. } | RemoteError::OfflineMissing { .. } => exit::USAGE,
                _ => exit::FAILURE,
            };
            let mut d = Diagnostic::new(source.to_string(), code)
                .at(requested_at.0.clone(), Some(requested_at.1))
                .hint(source.hint());
            if let RemoteError::Fetch { stderr, .. } = source
                && !stderr.is_empty()
            {
                d.details.push(format!("git: {stderr}"));
            }
            d
        }
        PlanError::RemoteConfig { repo_name, branch, source } => Diagnostic::new(
            format!("in remote `{repo_name}` (branch `{branch}`): {}", source.message),
            exit::USAGE,
        )
        .at(source.file.clone(), source.pos)
        .hint(Some(source.hint.clone().unwrap_or_else(|| {
            format!("the config comes from {repo_name}'s own repository; fix it there, or pin another branch")
        }))),
        PlanError::UnknownMode {
            project,
            available,
            requested_at,
            ..
        } => {
            let d = Diagnostic::new(e.to_string(), exit::USAGE).hint(Some(format!(
                "modes of `{project}`: {}",
                available.join(", ")
            )));
            match requested_at {
                Some((file, pos)) => d.at(file.clone(), Some(*pos)),
                None => d,
            }
        }
        PlanError::RemoteCycle { .. } => Diagnostic::new(e.to_string(), exit::USAGE)
            .hint(Some("a repo cannot depend on itself through its remotes; remove one of these dependencies".to_owned())),
        PlanError::RepoConflict {
            first_at,
            second_at,
            ..
        } => {
            let mut d = Diagnostic::new(e.to_string(), exit::USAGE)
                .at(second_at.0.clone(), Some(second_at.1))
                .hint(Some("give the two repositories different repo_name values, or point both at the same repo_link".to_owned()));
            d.also.push(("first declared here:".to_owned(), first_at.0.clone(), first_at.1));
            d
        }
        PlanError::ProjectConflict { at, .. } => Diagnostic::new(e.to_string(), exit::USAGE)
            .at(at.0.clone(), Some(at.1))
            .hint(Some("compose projects are named by service_name, which must be unique across the repos of a plan".to_owned())),
    }
}

pub fn engine_error(e: &crate::engine::EngineError) -> Diagnostic {
    let code = match e {
        crate::engine::EngineError::Unreachable { .. }
        | crate::engine::EngineError::Endpoint(_) => exit::ENGINE,
        crate::engine::EngineError::Api { .. } => exit::FAILURE,
    };
    Diagnostic::new(e.to_string(), code).hint(e.hint())
}

pub fn stack_error(e: &crate::stack::StackError) -> Diagnostic {
    use crate::stack::StackError;
    match e {
        StackError::Engine(e) => engine_error(e),
        StackError::PortTaken {
            service,
            config_file,
            pos,
            ..
        } => Diagnostic::new(format!("{e} (needed by {service})"), exit::FAILURE)
            .at(config_file.clone(), Some(*pos))
            .hint(Some(
                "stop what holds the port, or give the service another host port".to_owned(),
            )),
        StackError::Timeout {
            last_output, logs, ..
        } => {
            let mut d = Diagnostic::new(e.to_string(), exit::FAILURE).hint(Some(
                "the stack is left as it is: inspect it with `devrig logs`, raise healthcheck_timeout, or fix the service and run `up` again".to_owned(),
            ));
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
            let mut d = Diagnostic::new(e.to_string(), exit::FAILURE).hint(Some(
                "see its output below, fix it, and run `up` again".to_owned(),
            ));
            if !logs.is_empty() {
                d.details
                    .push(format!("last log lines:\n{}", logs.join("\n")));
            }
            d
        }
        StackError::DependencyFailed { .. } => Diagnostic::new(e.to_string(), exit::FAILURE),
        StackError::State(_) => Diagnostic::new(e.to_string(), exit::FAILURE).hint(Some(
            "check permissions on the devrig data directory".to_owned(),
        )),
    }
}

/// A plan-time conflict as the error that stops `up`, both places shown.
pub fn conflict(c: &crate::plan::conflicts::Conflict) -> Diagnostic {
    let mut d = Diagnostic::new(c.to_string(), exit::USAGE)
        .at(c.second.file.clone(), Some(c.second.pos))
        .hint(Some(c.hint.clone()));
    d.also.push((
        format!("also claimed by {}:", c.first.describe()),
        c.first.file.clone(),
        c.first.pos,
    ));
    d
}
