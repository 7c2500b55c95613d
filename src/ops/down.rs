//! `down`: stop the repo's programs, then a mode's containers, keeping the
//! projects other active services still use; dependencies toggled to local
//! go down with their last user.

use super::{Error, Event, Observer, Session, StackEvents, Target, context, programs};
use crate::plan::remote::FetchPolicy;
use crate::stack;
use crate::state::State;

#[derive(Debug, Clone)]
pub struct DownOptions {
    pub target: Target,
    /// The mode to stop; default: the mode it was started in.
    pub mode: Option<String>,
    /// Fetch remotes again first (else only cached copies are used: `down`
    /// works offline).
    pub refresh: bool,
    /// Dependencies toggled to run locally are not stopped (devservices'
    /// `--exclude-local`).
    pub exclude_local: bool,
}

pub fn down(opts: &DownOptions, observer: &dyn Observer) -> Result<(), Error> {
    down_in(&Session::new()?, opts, observer)
}

/// [`down`] in `session`, using its engine connection: for operations that
/// stop and start several repos.
pub fn down_in(
    session: &Session,
    opts: &DownOptions,
    observer: &dyn Observer,
) -> Result<(), Error> {
    super::tighten::tighten(observer);
    let config = opts.target.load(observer)?;
    let root = config.project().to_owned();
    // Programs first: they are the containers' clients, and a dev server
    // that loses its database mid-request only makes noise.
    programs::shutdown(&root, observer)?;
    let (local, state) = session.block_on(async {
        let engine = session.engine(observer).await?;
        let (store, mut state) = context::locked_state(engine, session.cancel(), observer).await?;
        let mode = opts
            .mode
            .clone()
            .or_else(|| state.services.get(&root).map(|a| a.mode.clone()))
            .unwrap_or_else(|| super::DEFAULT_MODE.to_owned());
        let policy = if opts.refresh {
            FetchPolicy::Refresh
        } else {
            FetchPolicy::CacheFirst
        };
        let plan = context::resolve(config, &mode, policy, observer)?;
        super::remote::release(engine, &plan).await;
        let keep = state.used_by_others(&root);
        stack::down::down(engine, &plan, &keep, &StackEvents(observer)).await?;
        state.services.remove(&root);
        store.save(&state)?;
        // Nothing of any stack is left: nor is the SSH connection kept.
        if state.services.is_empty() {
            engine.disconnect().await;
        }
        observer.event(Event::ServiceDown {
            project: root.clone(),
            mode,
        });
        Ok::<_, Error>((plan.local, state))
    })?;
    if opts.exclude_local {
        return Ok(());
    }
    stop_local_services(session, opts, &root, &local, &state, observer)
}

/// Local services this one relied on go down with it, unless another
/// active service still relies on them.
fn stop_local_services(
    session: &Session,
    opts: &DownOptions,
    root: &str,
    local: &[String],
    state: &State,
    observer: &dyn Observer,
) -> Result<(), Error> {
    for service in local {
        let (Some(runtime), true) = (
            state.local.get(service),
            state.services.contains_key(service),
        ) else {
            continue;
        };
        let users = state.local_users(service, root);
        if !users.is_empty() {
            observer.event(Event::LocalKept {
                service: service.clone(),
                users,
            });
            continue;
        }
        down_in(
            session,
            &DownOptions {
                target: Target::file(runtime.config_file()),
                mode: None,
                refresh: opts.refresh,
                exclude_local: false,
            },
            observer,
        )?;
    }
    Ok(())
}
