//! The Docker checks of `devenv doctor`: the engine answers (with its
//! versions), its data directory has room, and the default mode's host
//! ports are free. They run only when doctor is asked for the engine too
//! ([`super::doctor_with_engine`]): `devenv sync`'s gate is about the
//! toolchain and must not wait on an engine.

use super::checks::{Check, Ctx, Probe, id};
use crate::engine::Engine;
use crate::engine::endpoint::Address;
use std::path::Path;

/// Below this much free space in Docker's data dir, pulls and volumes fail.
const DISK_FAIL: u64 = 2 << 30;
/// Below this, the demo stack's images alone nearly fill it.
const DISK_WARN: u64 = 10 << 30;

pub(crate) fn probes(ctx: &Ctx) -> Vec<Probe> {
    let Some(docker) = &ctx.docker else {
        return Vec::new();
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    runtime.block_on(async {
        let engine = match Engine::connect().await {
            Ok(engine) => engine,
            Err(e) => return vec![Check::fail(id::DOCKER_ENGINE, e.to_string(), e.hint()).into()],
        };
        let mut checks = vec![Check::ok(
            id::DOCKER_ENGINE,
            format!(
                "Docker {} (API {}) at {}",
                engine.server_version, engine.api_version, engine.endpoint.address
            ),
        )];
        if let Some(check) = disk(&engine).await {
            checks.push(check);
        }
        if let Some(config) = docker.config
            && let Some(check) = ports(config, &engine).await
        {
            checks.push(check);
        }
        checks.into_iter().map(Probe::from).collect()
    })
}

/// Free space where the engine keeps images and volumes; only for a local
/// engine, whose data dir is on this machine.
async fn disk(engine: &Engine) -> Option<Check> {
    if !matches!(engine.endpoint.address, Address::Unix(_)) {
        return None;
    }
    let root = engine.data_root().await.ok()??;
    let free = crate::sys::available_space(Path::new(&root))?;
    let gib = free as f64 / f64::from(1u32 << 30);
    let finding = format!("{gib:.1} GiB free in {root}");
    let fix = Some(format!(
        "free space in {root}: `docker system prune` removes unused images and stopped containers"
    ));
    Some(if free < DISK_FAIL {
        Check::fail(id::DOCKER_DISK, finding, fix)
    } else if free < DISK_WARN {
        Check::warn(id::DOCKER_DISK, finding, fix)
    } else {
        Check::ok(id::DOCKER_DISK, finding)
    })
}

/// The default mode's published host ports, resolved from cached remotes
/// only: doctor never waits on the network.
async fn ports(config: &Path, engine: &Engine) -> Option<Check> {
    use crate::plan::remote::{FetchPolicy, RemoteCache};
    let vars = crate::config::Variables::from_process();
    let config = crate::config::load(config, &vars).ok()?;
    let cache = RemoteCache {
        root: RemoteCache::default_root(),
        policy: FetchPolicy::Offline,
    };
    let plan = crate::plan::resolve(config, "default", &cache, &vars).ok()?;
    let specs = crate::stack::specs(&plan, None);
    let containers = engine.containers(&[]).await.ok()?;
    Some(
        match crate::stack::ports::preflight(engine, &plan, &specs, &containers).await {
            Ok(()) => Check::ok(
                id::DOCKER_PORTS,
                "the default mode's host ports are free (or already ours)",
            ),
            Err(e) => Check::fail(
                id::DOCKER_PORTS,
                e.to_string(),
                Some(
                    "stop what holds the port, or publish the service on another host port"
                        .to_owned(),
                ),
            ),
        },
    )
}
