//! `reset SERVICE`: stop a service and delete its data volumes. In two
//! steps, so the command can ask before anything is deleted: [`prepare`]
//! says what would go, [`reset`] does it.

use super::{Error, Event, Observer, Session, StackEvents, Target, context};
use crate::engine::spec::ContainerSpec;
use crate::plan::remote::FetchPolicy;

#[derive(Debug, Clone)]
pub struct ResetOptions {
    pub target: Target,
    pub mode: String,
    pub fetch: FetchPolicy,
    pub mirror: Option<String>,
    /// The service whose data to delete.
    pub service: String,
}

/// What a reset would do.
#[derive(Debug, Clone)]
pub struct ResetPlan {
    pub container: ContainerSpec,
    /// The volumes only this service mounts: deleted.
    pub volumes: Vec<String>,
}

/// Finds the service and its own volumes; volumes it shares (with another
/// service, or external ones) are kept, each said as a warning.
pub fn prepare(opts: &ResetOptions, observer: &dyn Observer) -> Result<ResetPlan, Error> {
    let plan = opts.target.plan(&opts.mode, opts.fetch, observer)?;
    let specs = crate::stack::specs(&plan, opts.mirror.as_deref());
    let chosen = context::select(specs.clone(), std::slice::from_ref(&opts.service))?;
    let container = chosen.into_iter().next().expect("select found one");
    let (own, shared) = crate::stack::maintenance::own_volumes(&container, &specs);
    for volume in &shared {
        observer.event(Event::Warning(format!(
            "keeping volume {volume}: another service or an external owner uses it"
        )));
    }
    let volumes = own.into_iter().map(str::to_owned).collect();
    Ok(ResetPlan { container, volumes })
}

/// Stops and removes the container, then deletes its volumes.
pub fn reset(plan: &ResetPlan, observer: &dyn Observer) -> Result<(), Error> {
    Session::new()?.block_on(async {
        let engine = context::engine(observer).await?;
        let volumes: Vec<&str> = plan.volumes.iter().map(String::as_str).collect();
        crate::stack::maintenance::reset(
            &engine,
            &plan.container,
            &volumes,
            &StackEvents(observer),
        )
        .await?;
        Ok(())
    })
}
