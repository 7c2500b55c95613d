//! `reset SERVICE`: stop a service and delete its data volumes. In two
//! steps, so the command can ask before anything is deleted: [`prepare`]
//! says what would go, [`reset`] does it.
//!
//! SERVICE is a compose service: of this repo's plan (`postgres`,
//! `kafka/kafka`, or a container name) when devrig runs in a repo that has
//! it; else, as devservices does it, every devservices container on the
//! engine whose compose service is that name, whichever project it is in
//! (so `devservices reset postgres` works from anywhere).
//!
//! Only volumes labelled as the project's (made by devrig or compose) are
//! deleted. `up` adopts an unlabelled volume of the right name, which is
//! how data made by hand or by older tools is kept; such a volume is not
//! devrig's to delete, so `reset` refuses before stopping anything, as
//! `docker compose down -v` keeps it.

use super::{ContextError, Error, Event, Observer, Session, StackEvents, Target, context};
use crate::engine::spec::{LABEL_ORCHESTRATOR, LABEL_PROJECT, LABEL_SERVICE};
use crate::plan::remote::FetchPolicy;

#[derive(Debug, Clone)]
pub struct ResetOptions {
    pub target: Target,
    /// The mode; the one it runs in (else `default`) when `None`.
    pub mode: Option<String>,
    pub fetch: FetchPolicy,
    /// The compose service whose data to delete.
    pub service: String,
}

/// What a reset would do.
#[derive(Debug, Clone)]
pub struct ResetPlan {
    /// The containers that are stopped and removed.
    pub containers: Vec<String>,
    /// The volumes only they mount: deleted.
    pub volumes: Vec<String>,
    /// The compose projects of those containers: a volume is deleted only
    /// when it is labelled as one of theirs.
    pub projects: Vec<String>,
}

/// Why there is nothing to reset.
#[derive(Debug, thiserror::Error)]
#[error("no container of a service `{service}` was found on the engine")]
pub struct NothingToReset {
    pub service: String,
}

/// Volumes a reset would delete that the project did not make: no label
/// says they are its own.
#[derive(Debug, thiserror::Error)]
#[error("{} not made by devrig or compose for {} (no label says so), so reset does not delete {}", list(.volumes), .projects.join(", "), if .volumes.len() == 1 { "it" } else { "them" })]
pub struct AdoptedVolumes {
    pub volumes: Vec<String>,
    pub projects: Vec<String>,
}

fn list(volumes: &[String]) -> String {
    match volumes {
        [one] => format!("volume {one} was"),
        many => format!("volumes {} were", many.join(", ")),
    }
}

impl AdoptedVolumes {
    pub fn hint(&self) -> String {
        let it = if self.volumes.len() == 1 {
            "it"
        } else {
            "they"
        };
        format!(
            "{it} hold{s} data devrig found there and used as it was; to delete {them} anyway: `devrig down`, then `docker volume rm {}`",
            self.volumes.join(" "),
            s = if self.volumes.len() == 1 { "s" } else { "" },
            them = if self.volumes.len() == 1 {
                "it"
            } else {
                "them"
            },
        )
    }
}

/// Finds the service's containers and their own volumes; volumes they share
/// (with another service, or external ones) are kept, each said as a
/// warning. Refused when one of the volumes is not the project's own.
pub fn prepare(opts: &ResetOptions, observer: &dyn Observer) -> Result<ResetPlan, Error> {
    let plan = match in_plan(opts, observer) {
        Err(Error::Context(ContextError::NoConfig { .. } | ContextError::NoSuchService { .. })) => {
            on_engine(&opts.service, observer)
        }
        found => found,
    }?;
    let adopted = Session::new()?.block_on(async {
        let engine = context::engine(observer).await?;
        let mut adopted = Vec::new();
        for name in &plan.volumes {
            // One already gone has nothing to lose.
            let Some(volume) = engine.volume(name).await? else {
                continue;
            };
            let owner = volume.labels.get(LABEL_PROJECT);
            if !owner.is_some_and(|p| plan.projects.contains(p)) {
                adopted.push(name.clone());
            }
        }
        Ok::<_, Error>(adopted)
    })?;
    if !adopted.is_empty() {
        return Err(AdoptedVolumes {
            volumes: adopted,
            projects: plan.projects,
        }
        .into());
    }
    Ok(plan)
}

/// The service in this repo's plan.
fn in_plan(opts: &ResetOptions, observer: &dyn Observer) -> Result<ResetPlan, Error> {
    let plan = opts
        .target
        .plan_running(opts.mode.as_deref(), opts.fetch, observer)?;
    // Names and volumes only: no image reference matters, so no mirror.
    let specs = crate::stack::specs(&plan, None);
    let chosen = context::select(specs.clone(), std::slice::from_ref(&opts.service))?;
    let container = chosen.into_iter().next().expect("select found one");
    let (own, shared) = crate::stack::maintenance::own_volumes(&container, &specs);
    warn_kept(&shared, observer);
    Ok(ResetPlan {
        containers: vec![container.name.clone()],
        volumes: own.into_iter().map(str::to_owned).collect(),
        projects: vec![container.project.clone()],
    })
}

/// devservices' lookup: every devservices container whose compose service
/// is `service`, in any project.
fn on_engine(service: &str, observer: &dyn Observer) -> Result<ResetPlan, Error> {
    let all = Session::new()?.block_on(async {
        let engine = context::engine(observer).await?;
        Ok::<_, Error>(engine.containers(&[]).await?)
    })?;
    let (chosen, others): (Vec<_>, Vec<_>) = all.into_iter().partition(|c| {
        c.label(LABEL_SERVICE) == Some(service)
            && c.label(LABEL_ORCHESTRATOR.0) == Some(LABEL_ORCHESTRATOR.1)
    });
    if chosen.is_empty() {
        return Err(NothingToReset {
            service: service.to_owned(),
        }
        .into());
    }
    let mut volumes: Vec<String> = chosen.iter().flat_map(|c| c.volumes.clone()).collect();
    volumes.sort();
    volumes.dedup();
    let (shared, own): (Vec<String>, Vec<String>) = volumes
        .into_iter()
        .partition(|v| others.iter().any(|c| c.volumes.contains(v)));
    let shared: Vec<&str> = shared.iter().map(String::as_str).collect();
    warn_kept(&shared, observer);
    let mut projects: Vec<String> = chosen
        .iter()
        .filter_map(|c| c.label(LABEL_PROJECT).map(str::to_owned))
        .collect();
    projects.sort();
    projects.dedup();
    Ok(ResetPlan {
        containers: chosen.into_iter().map(|c| c.name).collect(),
        volumes: own,
        projects,
    })
}

fn warn_kept(shared: &[&str], observer: &dyn Observer) {
    for volume in shared {
        observer.event(Event::Warning(format!(
            "keeping volume {volume}: another service or an external owner uses it"
        )));
    }
}

/// Stops and removes the containers, then deletes their volumes.
pub fn reset(plan: &ResetPlan, observer: &dyn Observer) -> Result<(), Error> {
    Session::new()?.block_on(async {
        let engine = context::engine(observer).await?;
        crate::stack::maintenance::reset(
            &engine,
            &plan.containers,
            &plan.volumes,
            &StackEvents(observer),
        )
        .await?;
        Ok(())
    })
}
