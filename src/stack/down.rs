//! `down`: stop the plan's containers in reverse dependency order, in
//! parallel within a level. Containers are kept (the next `up` only starts
//! them) and so are volumes; projects another active service still uses
//! are left running.

use super::{Event, Observer, StackError};
use crate::engine::Engine;
use crate::plan::{Plan, UnitKind};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::time::Duration;

/// Stops the plan's containers, except those of projects in `keep`
/// (project → the services still using it).
pub async fn down(
    engine: &Engine,
    plan: &Plan,
    keep: &BTreeMap<String, Vec<String>>,
    observer: &dyn Observer,
) -> Result<(), StackError> {
    for (project, users) in keep {
        if plan.projects.contains_key(project) {
            observer.event(Event::Kept {
                project: project.clone(),
                users: users.clone(),
            });
        }
    }
    for level in plan.levels.iter().rev() {
        let units = level
            .iter()
            .filter(|u| u.kind == UnitKind::Container && !keep.contains_key(&u.project));
        let stops = futures_util::stream::iter(units).map(|unit| async move {
            let project = &plan.projects[&unit.project];
            let service = &project.config.services[&unit.name];
            let name = crate::engine::spec::container_name(&unit.project, service);
            observer.event(Event::Stopping {
                container: name.clone(),
            });
            let grace = service
                .stop_grace_period
                .map(|d| d.as_std())
                .or(Some(Duration::from_secs(10)));
            // One that was not running (never started, or stopped
            // already) has nothing to report.
            if engine.stop(&name, grace).await? {
                observer.event(Event::Stopped { container: name });
            }
            Ok::<(), StackError>(())
        });
        // Bounded like starts: each stop holds an engine request open for
        // up to its grace period.
        let results: Vec<_> = stops.buffer_unordered(super::up::STARTS).collect().await;
        for result in results {
            result?;
        }
    }
    Ok(())
}
