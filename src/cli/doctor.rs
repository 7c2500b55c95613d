//! `devenv doctor`: is this clone's toolchain what the repo needs, and is
//! the Docker engine there? One line per check, with the exact fix.

use super::context;
use super::{CmdResult, GlobalArgs, exit, report};
use crate::engine::Engine;
use crate::toolchain::{self, Check, HostEnv, Outcome};
use crate::ui::{Diagnostic, Printer, Style};
use clap::Args;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Apply the fixes that are safe (create the venv, `direnv allow`, `corepack enable pnpm`)
    #[arg(long)]
    pub fix: bool,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: DoctorArgs) -> CmdResult {
    let root = context::repo_root(global)?;
    let env = HostEnv::from_process();
    let mut checks = toolchain::doctor(&root, &env).map_err(|e| report::config_error(&e))?;
    if args.fix {
        for check in checks
            .iter_mut()
            .filter(|c| c.fixable && c.outcome != Outcome::Ok)
        {
            match toolchain::apply_fix(check.id, &root, &env) {
                Ok(applied) => {
                    printer.status("Fixed", &format!("{} ({})", check.id, applied.command));
                    *check = applied.check;
                }
                Err(e) => printer.warn(&format!("{}: {e}", check.id)),
            }
        }
    }
    checks.extend(docker_checks(global));
    if printer.json {
        printer.json(&checks);
    } else {
        let width = checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
        for check in &checks {
            let mark = match check.outcome {
                Outcome::Ok => printer.paint(Style::Green, "ok  "),
                Outcome::Warn => printer.paint(Style::Yellow, "warn"),
                Outcome::Fail => printer.paint(Style::Red, "FAIL"),
            };
            printer.line(&format!("{mark} {:<width$}  {}", check.id, check.finding));
            if check.outcome != Outcome::Ok
                && let Some(fix) = &check.fix
            {
                printer.line(&format!(
                    "     {:<width$}  {} {fix}",
                    "",
                    printer.paint(Style::Cyan, "fix:")
                ));
            }
        }
    }
    if checks.iter().any(|c| c.outcome == Outcome::Fail) {
        // The findings are the report; the exit code tells CI.
        return Err(Diagnostic::new(
            format!(
                "{} of {} checks failed",
                checks.iter().filter(|c| c.outcome == Outcome::Fail).count(),
                checks.len()
            ),
            exit::FAILURE,
        )
        .hint(Some(
            "apply the fixes above; `devenv doctor --fix` applies the safe ones".to_owned(),
        )));
    }
    Ok(())
}

/// The engine answers, with its versions; the default mode's host ports are free.
fn docker_checks(global: &GlobalArgs) -> Vec<Check> {
    let Ok(rt) = context::runtime() else {
        return Vec::new();
    };
    rt.block_on(async {
        let engine = match Engine::connect().await {
            Ok(engine) => engine,
            Err(e) => {
                return vec![Check::fail("docker.engine", e.to_string(), e.hint())];
            }
        };
        let mut checks = vec![Check::ok(
            "docker.engine",
            format!(
                "Docker {} (API {}) at {}",
                engine.server_version, engine.api_version, engine.endpoint.address
            ),
        )];
        if let Some(check) = disk_check(&engine).await {
            checks.push(check);
        }
        if let Some(check) = ports_check(global, &engine).await {
            checks.push(check);
        }
        checks
    })
}

/// Below this much free space in Docker's data dir, pulls and volumes fail.
const DISK_FAIL: u64 = 2 << 30;
/// Below this, the demo stack's images alone nearly fill it.
const DISK_WARN: u64 = 10 << 30;

/// Free space where the engine keeps images and volumes; only for a local
/// engine, whose data dir is on this machine.
async fn disk_check(engine: &Engine) -> Option<Check> {
    if !matches!(
        engine.endpoint.address,
        crate::engine::endpoint::Address::Unix(_)
    ) {
        return None;
    }
    let info = engine.docker.info().await.ok()?;
    let root = info.docker_root_dir?;
    let free = crate::sys::available_space(std::path::Path::new(&root))?;
    let gib = free as f64 / f64::from(1u32 << 30);
    let finding = format!("{gib:.1} GiB free in {root}");
    let fix = Some(format!(
        "free space in {root}: `docker system prune` removes unused images and stopped containers"
    ));
    Some(if free < DISK_FAIL {
        Check::fail("docker.disk", finding, fix)
    } else if free < DISK_WARN {
        Check::warn("docker.disk", finding, fix)
    } else {
        Check::ok("docker.disk", finding)
    })
}

async fn ports_check(global: &GlobalArgs, engine: &Engine) -> Option<Check> {
    use crate::plan::remote::{FetchPolicy, RemoteCache};
    let path = context::config_path(global).ok()?;
    let vars = crate::config::Variables::from_process();
    let config = crate::config::load(&path, &vars).ok()?;
    let cache = RemoteCache {
        root: RemoteCache::default_root(),
        policy: FetchPolicy::Offline,
    };
    let plan = crate::plan::resolve(config, "default", &cache, &vars).ok()?;
    let specs = crate::stack::specs(&plan, None);
    let containers = engine.containers(&[]).await.ok()?;
    Some(
        match crate::stack::ports::preflight(&plan, &specs, &containers) {
            Ok(()) => Check::ok(
                "docker.ports",
                "the default mode's host ports are free (or already ours)",
            ),
            Err(e) => Check::fail(
                "docker.ports",
                e.to_string(),
                Some(
                    "stop what holds the port, or publish the service on another host port"
                        .to_owned(),
                ),
            ),
        },
    )
}
