//! `pnpm.version`: the repo's pnpm (`.devenv/bin`'s, else PATH's) is the
//! version the repo pins. When `packageManager` pins it, the fix is `devenv
//! sync`, which installs that version; a range (`engines.pnpm`) gets the
//! command for the pnpm the user has.

use super::checks::{Action, Check, Ctx, Probe, id};
use super::provision::BINROOT;
use super::python::SYNC;
use super::requirements::{Pinned, PnpmReq};
use super::run::{self, PROBE_TIMEOUT};
use super::version::Version;
use std::path::{Path, PathBuf};

pub(crate) fn probes(ctx: &Ctx) -> Vec<Probe> {
    match &ctx.reqs.pnpm {
        Some(req) => vec![probe(ctx, req)],
        None => Vec::new(),
    }
}

/// How the pnpm on PATH was installed, which decides how to change it.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// corepack's shim: it runs whatever `packageManager` pins.
    Corepack,
    /// Volta's shim, which runs the pnpm Volta pinned.
    Volta,
    /// `npm install -g pnpm`, into this prefix.
    Npm { prefix: PathBuf },
    /// pnpm's own installer (or anything else): `pnpm self-update` works.
    Standalone,
}

fn kind(pnpm: &Path) -> Kind {
    let real = pnpm.canonicalize().unwrap_or_else(|_| pnpm.to_owned());
    let text = real.to_string_lossy();
    if text.contains("/corepack/") {
        return Kind::Corepack;
    }
    if real.file_name().is_some_and(|n| n == "volta-shim") {
        return Kind::Volta;
    }
    match text.find("/lib/node_modules/pnpm/") {
        Some(i) => Kind::Npm {
            prefix: PathBuf::from(&text[..i]),
        },
        None => Kind::Standalone,
    }
}

fn spec(pin: Option<&Pinned>) -> String {
    match pin {
        Some(p) => shell_words::quote(&format!("pnpm@{}", p.written)).into_owned(),
        None => "pnpm".to_owned(),
    }
}

fn probe(ctx: &Ctx, req: &PnpmReq) -> Probe {
    let pin = req.version.as_ref();
    // What sync installs, sync fixes.
    let synced = pin.is_some() && req.package_manager;
    let required = pin
        .map(|p| format!("; {} requires {}", p.source, p.req))
        .unwrap_or_default();
    let Some((pnpm, place)) = ctx.repo_tool("pnpm") else {
        let finding = format!("pnpm is not on PATH or in {BINROOT}{required}");
        if synced {
            return Check::fail(id::PNPM_VERSION, finding, Some(SYNC.to_owned())).into();
        }
        return match ctx.which("corepack") {
            Some(corepack) => Probe::fixable(
                Check::fail(
                    id::PNPM_VERSION,
                    finding,
                    Some("corepack enable pnpm".to_owned()),
                ),
                Action::CorepackEnable { corepack },
            ),
            None => Check::fail(
                id::PNPM_VERSION,
                finding,
                Some(format!("npm install -g {}", spec(pin))),
            )
            .into(),
        };
    };
    let kind = kind(&pnpm);

    // Run where the user would, so that corepack's shim reads the repo's
    // `packageManager`; but never let a check download anything: corepack
    // must not fetch the pinned pnpm, and pnpm 10 must not switch itself to
    // the pinned version (`manage-package-manager-versions`).
    let mut env = ctx.env.clone();
    env.set("COREPACK_ENABLE_NETWORK", "0");
    env.set("COREPACK_ENABLE_DOWNLOAD_PROMPT", "0");
    env.set("npm_config_manage_package_manager_versions", "false");
    let mut cmd = run::command(&pnpm, ctx.root, &env);
    cmd.arg("--version");
    let out = match run::run(cmd, PROBE_TIMEOUT) {
        Ok(out) if out.success() => out,
        Ok(out) if kind == Kind::Corepack => {
            return Check::fail(
                id::PNPM_VERSION,
                format!(
                    "corepack has not downloaded {} yet: {}",
                    spec(pin),
                    out.error_line()
                ),
                Some("corepack install".to_owned()),
            )
            .into();
        }
        Ok(out) => {
            return Check::fail(
                id::PNPM_VERSION,
                format!("pnpm does not run: {}", out.error_line()),
                None,
            )
            .into();
        }
        Err(e) => {
            return Check::fail(id::PNPM_VERSION, format!("pnpm does not run: {e}"), None).into();
        }
    };
    let shown = out.first_line();
    let Some(version) = Version::parse(shown).or_else(|| Version::find_in(shown)) else {
        return Check::warn(
            id::PNPM_VERSION,
            format!("cannot read a version from `pnpm --version`: `{shown}`"),
            None,
        )
        .into();
    };
    let Some(pin) = pin else {
        return Check::ok(
            id::PNPM_VERSION,
            format!("pnpm {shown}; no version is pinned"),
        )
        .into();
    };
    let finding = |verb: &str| {
        format!(
            "pnpm {shown}{} {verb} {}, required by {}",
            place.describe(),
            pin.req,
            pin.source
        )
    };
    if pin.req.matches(&version) {
        return match place.unreachable_fix() {
            Some(fix) => Check::warn(
                id::PNPM_VERSION,
                format!("{}; but {BINROOT} is not on PATH", finding("matches")),
                Some(fix),
            ),
            None => Check::ok(id::PNPM_VERSION, finding("matches")),
        }
        .into();
    }
    let fix = match &kind {
        _ if synced => SYNC.to_owned(),
        Kind::Corepack => format!("corepack prepare {} --activate", spec(Some(pin))),
        Kind::Volta => format!("volta install {}", spec(Some(pin))),
        Kind::Npm { prefix } if Some(prefix) == npm_default_prefix(ctx).as_ref() => {
            format!("npm install -g {}", spec(Some(pin)))
        }
        Kind::Npm { prefix } => format!(
            "npm install -g --prefix {} {}",
            shell_words::quote(&prefix.to_string_lossy()),
            spec(Some(pin))
        ),
        Kind::Standalone => format!("pnpm self-update {}", shell_words::quote(&pin.written)),
    };
    Check::fail(id::PNPM_VERSION, finding("does not match"), Some(fix)).into()
}

/// Where `npm install -g` installs without `--prefix`: `$npm_config_prefix`,
/// else the prefix of the node binary (npm's built-in default; a prefix set
/// in an npmrc is not read, so the fix then names it explicitly).
fn npm_default_prefix(ctx: &Ctx) -> Option<PathBuf> {
    for var in ["npm_config_prefix", "NPM_CONFIG_PREFIX"] {
        if let Some(prefix) = ctx.env.get(var) {
            return Some(PathBuf::from(prefix));
        }
    }
    let node = ctx.which("node")?.canonicalize().ok()?;
    Some(node.parent()?.parent()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_where_the_binary_really_is() {
        let dir = tempfile::tempdir().unwrap();
        let place = |rel: &str| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "").unwrap();
            path
        };
        let link = |target: &Path, name: &str| {
            let link = dir.path().join("bin").join(name);
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, &link).unwrap();
            link
        };
        let shim = place("lib/node_modules/corepack/dist/pnpm.js");
        assert_eq!(kind(&link(&shim, "a")), Kind::Corepack);
        let npm = place("prefix/lib/node_modules/pnpm/bin/pnpm.cjs");
        assert_eq!(
            kind(&link(&npm, "b")),
            Kind::Npm {
                prefix: dir.path().canonicalize().unwrap().join("prefix")
            }
        );
        let volta = place(".volta/bin/volta-shim");
        assert_eq!(kind(&link(&volta, "c")), Kind::Volta);
        assert_eq!(kind(&place("pnpm-home/pnpm")), Kind::Standalone);
    }
}
