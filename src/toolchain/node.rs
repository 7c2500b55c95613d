//! `node.version`: the repo's `node` (`.devenv/bin`'s, else PATH's) meets
//! the repo's requirement, exactly when the pin is exact. Its fix is
//! `devenv sync`, which installs the pinned Node.

use super::checks::{Check, Ctx, Probe, id};
use super::provision::BINROOT;
use super::python::SYNC;
use super::requirements::{DEFAULT_NODE, Pinned};
use super::run::{self, PROBE_TIMEOUT};
use super::version::Version;

pub(crate) fn probes(ctx: &Ctx) -> Vec<Probe> {
    match &ctx.reqs.node {
        Some(req) => vec![check(ctx, &req.version).into()],
        None => Vec::new(),
    }
}

/// `required by .nvmrc`, or for the default, why it is the default.
fn required_by(pin: &Pinned) -> String {
    match pin.source.file {
        Some(_) => format!("required by {}", pin.source),
        None => format!(
            "{} when the repo pins no Node version (Sentry needs {DEFAULT_NODE})",
            pin.source
        ),
    }
}

fn check(ctx: &Ctx, pin: &Pinned) -> Check {
    // Whatever is wrong with Node, sync installs the pinned one.
    let fix = Some(SYNC.to_owned());
    let Some((node, place)) = ctx.repo_tool("node") else {
        return Check::fail(
            id::NODE_VERSION,
            format!(
                "node is not on PATH or in {BINROOT}; Node {} is {}",
                pin.req,
                required_by(pin)
            ),
            fix,
        );
    };
    let mut cmd = run::command(&node, ctx.root, ctx.env);
    cmd.arg("--version");
    let out = match run::run(cmd, PROBE_TIMEOUT) {
        Ok(out) if out.success() => out,
        Ok(out) => {
            return Check::fail(
                id::NODE_VERSION,
                format!(
                    "node{} does not run: {}",
                    place.describe(),
                    out.error_line()
                ),
                fix,
            );
        }
        Err(e) => {
            return Check::fail(
                id::NODE_VERSION,
                format!("node{} does not run: {e}", place.describe()),
                fix,
            );
        }
    };
    let shown = out.first_line();
    let Some(version) = Version::find_in(shown).or_else(|| Version::parse(shown)) else {
        return Check::warn(
            id::NODE_VERSION,
            format!("cannot read a version from `node --version`: `{shown}`"),
            None,
        );
    };
    let finding = |verb: &str| {
        format!(
            "node {shown}{} {verb} {}, {}",
            place.describe(),
            pin.req,
            required_by(pin)
        )
    };
    if !pin.req.matches(&version) {
        return Check::fail(id::NODE_VERSION, finding("does not match"), fix);
    }
    match place.unreachable_fix() {
        Some(fix) => Check::warn(
            id::NODE_VERSION,
            format!("{}; but {BINROOT} is not on PATH", finding("matches")),
            Some(fix),
        ),
        None => Check::ok(id::NODE_VERSION, finding("matches")),
    }
}
