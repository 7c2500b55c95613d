//! `node.version`: the `node` on PATH meets the repo's requirement.

use super::checks::{Check, Ctx, Probe, id};
use super::requirements::{DEFAULT_NODE, Pinned};
use super::run::{self, PROBE_TIMEOUT};
use super::version::{Version, VersionReq};

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
    let fix = Some(install_node(ctx, &pin.req));
    let Some(node) = ctx.which("node") else {
        return Check::fail(
            id::NODE_VERSION,
            format!(
                "node is not on PATH; Node {} is {}",
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
                format!("node does not run: {}", out.error_line()),
                fix,
            );
        }
        Err(e) => return Check::fail(id::NODE_VERSION, format!("node does not run: {e}"), fix),
    };
    let shown = out.first_line();
    let Some(version) = Version::find_in(shown).or_else(|| Version::parse(shown)) else {
        return Check::warn(
            id::NODE_VERSION,
            format!("cannot read a version from `node --version`: `{shown}`"),
            None,
        );
    };
    if pin.req.matches(&version) {
        Check::ok(
            id::NODE_VERSION,
            format!("node {shown} matches {}, {}", pin.req, required_by(pin)),
        )
    } else {
        Check::fail(
            id::NODE_VERSION,
            format!(
                "node {shown} does not match {}, {}",
                pin.req,
                required_by(pin)
            ),
            fix,
        )
    }
}

/// The major version to install for a requirement: its own for a pin, and
/// for a range the default when the range allows it, else the lowest major
/// it allows.
fn major_for(req: &VersionReq) -> String {
    if let Some(bare) = req.bare() {
        return bare.split('.').next().unwrap_or(bare).to_owned();
    }
    let allows = |major: u64| {
        [0, 99].iter().any(|minor| {
            req.matches(&Version {
                major,
                minor: *minor,
                patch: 0,
            })
        })
    };
    let default: u64 = DEFAULT_NODE.parse().unwrap_or(22);
    if allows(default) {
        return DEFAULT_NODE.to_owned();
    }
    (0..100)
        .find(|m| allows(*m))
        .map_or_else(|| req.to_string(), |m| m.to_string())
}

/// The command for the Node version manager the user already has: volta,
/// fnm, nvm (a shell function, so it is found by its directory), Homebrew.
fn install_node(ctx: &Ctx, req: &VersionReq) -> String {
    let major = major_for(req);
    let home = ctx.env.home();
    let has_dir = |var: &str, dir: &str| {
        ctx.env.get(var).is_some() || home.as_ref().is_some_and(|h| h.join(dir).is_dir())
    };
    if ctx.which("volta").is_some() || has_dir("VOLTA_HOME", ".volta") {
        format!("volta install node@{major}")
    } else if ctx.which("fnm").is_some() {
        format!("fnm install {major} && fnm use {major}")
    } else if has_dir("NVM_DIR", ".nvm") {
        format!("nvm install {major} && nvm use {major}")
    } else if ctx.which("brew").is_some() {
        format!("brew install node@{major}")
    } else {
        format!("install Node {major} with a version manager: volta (https://volta.sh), fnm or nvm")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors_to_install() {
        let m = |t: &str| major_for(&VersionReq::parse(t).unwrap());
        assert_eq!(m("22"), "22");
        assert_eq!(m("20.11"), "20");
        assert_eq!(m(">=18"), "22");
        assert_eq!(m("^20.11.0"), "20");
        assert_eq!(m(">=24"), "24");
    }
}
