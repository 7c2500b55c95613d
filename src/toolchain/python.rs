//! `python.version` (the required Python is installed) and `python.venv`
//! (the repo's venv exists, was made with that Python, still runs, has the
//! project installed, and is active or activated by direnv).

use super::checks::{Action, Check, Ctx, Probe, id};
use super::direnv;
use super::requirements::{Pinned, PythonReq};
use super::run::{self, PROBE_TIMEOUT};
use super::version::Version;
use std::path::{Path, PathBuf};

/// A Python interpreter found on PATH.
#[derive(Debug, Clone)]
pub(crate) struct Interpreter {
    /// The name it was found under (`python3.13`), as a fix should type it.
    pub name: String,
    pub path: PathBuf,
    pub version: Version,
}

/// What PATH offers: the first interpreter that meets the requirement, and
/// what else was tried, for the finding.
#[derive(Debug, Clone, Default)]
pub(crate) struct Found {
    pub matching: Option<Interpreter>,
    pub others: Vec<Interpreter>,
    /// Names on PATH that did not run (a pyenv shim for a version that is
    /// not installed), with the reason.
    pub broken: Vec<(String, String)>,
}

pub(crate) fn probes(ctx: &Ctx) -> Vec<Probe> {
    let Some(req) = &ctx.reqs.python else {
        return Vec::new();
    };
    let found = find(ctx, req.version.as_ref());
    vec![
        version_probe(ctx, req, &found),
        venv_probe(ctx, req, &found),
    ]
}

/// The names to try, most specific first: `python3.13` is what pyenv, uv,
/// Homebrew and Debian all install for 3.13, and `python3` may be anything.
fn candidates(req: Option<&Pinned>) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(bare) = req.and_then(|p| p.req.bare()) {
        let mut parts = bare.split('.');
        if let (Some(major), Some(minor)) = (parts.next(), parts.next()) {
            names.push(format!("python{major}.{minor}"));
        }
    }
    names.extend(["python3".to_owned(), "python".to_owned()]);
    names
}

fn find(ctx: &Ctx, req: Option<&Pinned>) -> Found {
    let mut found = Found::default();
    let mut seen: Vec<PathBuf> = Vec::new();
    for name in candidates(req) {
        let Some(path) = ctx.which(&name) else {
            continue;
        };
        match interpreter_version(ctx, &path) {
            Ok(version) => {
                let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
                let interp = Interpreter {
                    name,
                    path,
                    version,
                };
                if req.is_none_or(|p| p.req.matches(&version)) {
                    found.matching = Some(interp);
                    return found;
                }
                if !seen.contains(&canonical) {
                    seen.push(canonical);
                    found.others.push(interp);
                }
            }
            Err(reason) => found.broken.push((name, reason)),
        }
    }
    found
}

/// `python --version` → `Python 3.13.1` (on stderr before Python 3.4).
fn interpreter_version(ctx: &Ctx, path: &Path) -> Result<Version, String> {
    let mut cmd = run::command(path, ctx.root, ctx.env);
    cmd.arg("--version");
    let out = run::run(cmd, PROBE_TIMEOUT).map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(out.error_line().to_owned());
    }
    let text = format!("{}\n{}", out.stdout, out.stderr);
    Version::find_in(&text).ok_or_else(|| format!("unexpected output `{}`", out.first_line()))
}

/// The interpreter name a fix should use: the one found, else the versioned
/// name the requirement implies.
fn interpreter_name(req: Option<&Pinned>, found: &Found) -> String {
    match &found.matching {
        Some(i) => i.name.clone(),
        None => candidates(req).swap_remove(0),
    }
}

fn version_probe(ctx: &Ctx, req: &PythonReq, found: &Found) -> Probe {
    let Some(pin) = &req.version else {
        return match &found.matching {
            Some(i) => Check::ok(
                id::PYTHON_VERSION,
                format!("{} is Python {}; no version is pinned", i.name, i.version),
            ),
            None => Check::fail(
                id::PYTHON_VERSION,
                "no Python on PATH (tried python3, python)",
                install_python(ctx, None),
            ),
        }
        .into();
    };
    if let Some(i) = &found.matching {
        return Check::ok(
            id::PYTHON_VERSION,
            format!(
                "{} is Python {}, matching {} from {}",
                i.name, i.version, pin.req, pin.source
            ),
        )
        .into();
    }
    let mut seen: Vec<String> = found
        .others
        .iter()
        .map(|i| format!("{} is {}", i.name, i.version))
        .collect();
    // pyenv's shims all fail the same way: one reason, every name.
    let mut reasons: Vec<(Vec<&str>, &str)> = Vec::new();
    for (name, why) in &found.broken {
        match reasons.iter_mut().find(|(_, w)| w == why) {
            Some((names, _)) => names.push(name),
            None => reasons.push((vec![name], why)),
        }
    }
    seen.extend(reasons.iter().map(|(names, why)| {
        let verb = if names.len() == 1 { "does" } else { "do" };
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        format!("{} {verb} not run: {why}", join_and(&names))
    }));
    let seen = if seen.is_empty() {
        "none on PATH".to_owned()
    } else {
        seen.join("; ")
    };
    Check::fail(
        id::PYTHON_VERSION,
        format!(
            "no Python {} on PATH ({seen}); required by {}",
            pin.req, pin.source
        ),
        install_python(ctx, Some(pin)),
    )
    .into()
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// How to install a Python: with the tool the user already has. pyenv and
/// uv get the version as pinned (pyenv's shims only run the exact version a
/// `.python-version` names); Homebrew has one formula per minor version.
fn install_python(ctx: &Ctx, pin: Option<&Pinned>) -> Option<String> {
    let line = pin.map_or("3", |p| p.req.bare().unwrap_or(p.req.as_str()));
    let exact = pin
        .map(|p| p.written.trim_start_matches(['v', 'V']))
        .filter(|w| Version::parse(w).is_some())
        .unwrap_or(line);
    let (line, exact) = (shell_words::quote(line), shell_words::quote(exact));
    Some(if ctx.which("uv").is_some() {
        format!("uv python install {exact}")
    } else if ctx.which("pyenv").is_some() {
        format!("pyenv install {exact}")
    } else if ctx.which("brew").is_some() {
        format!("brew install python@{line}")
    } else {
        format!(
            "install Python {line} (python.org, or `uv python install {exact}` with uv from https://docs.astral.sh/uv/)"
        )
    })
}

fn venv_probe(ctx: &Ctx, req: &PythonReq, found: &Found) -> Probe {
    let venv = &req.venv;
    let dir = ctx.root.join(venv);
    let name = interpreter_name(req.version.as_ref(), found);
    let create = format!("{name} -m venv {}", shell_words::quote(venv));
    let recreate = format!("rm -rf {} && {create}", shell_words::quote(venv));

    if !dir.exists() {
        let check = Check::fail(
            id::PYTHON_VENV,
            format!("{venv} does not exist"),
            Some(create),
        );
        return match &found.matching {
            Some(i) => Probe::fixable(
                check,
                Action::CreateVenv {
                    python: i.path.clone(),
                    venv: venv.clone(),
                },
            ),
            None => check.into(),
        };
    }

    let Ok(cfg) = std::fs::read_to_string(dir.join("pyvenv.cfg")) else {
        return Check::fail(
            id::PYTHON_VENV,
            format!("{venv} is not a virtualenv (it has no pyvenv.cfg)"),
            Some(recreate),
        )
        .into();
    };
    let made_with = venv_version(&cfg);
    if let (Some(pin), Some(made_with)) = (&req.version, made_with)
        && !pin.req.matches(&made_with)
    {
        return Check::fail(
            id::PYTHON_VENV,
            format!(
                "{venv} was made with Python {made_with}; {} requires {}",
                pin.source, pin.req
            ),
            Some(recreate),
        )
        .into();
    }

    // A venv outlives the interpreter it links to (a Homebrew or pyenv
    // upgrade removes it): then nothing in it runs.
    let venv_python = dir.join("bin/python");
    let runs = match interpreter_version(ctx, &venv_python) {
        Ok(v) => v,
        Err(why) => {
            return Check::fail(
                id::PYTHON_VENV,
                format!("{venv}/bin/python does not run: {why}"),
                Some(recreate),
            )
            .into();
        }
    };
    let made_with = made_with.unwrap_or(runs);

    let mut facts = vec![format!("{venv} has Python {made_with}")];
    if let Some(project) = &req.project {
        if !project_installed(&dir, project) {
            let install = req
                .install
                .clone()
                .unwrap_or_else(|| format!("{venv}/bin/python -m pip install -e ."));
            return Check::fail(
                id::PYTHON_VENV,
                format!("the project `{project}` is not installed in {venv}"),
                Some(install),
            )
            .into();
        }
        facts.push(format!("`{project}` installed"));
    }

    let activate = format!("source {}/bin/activate", shell_words::quote(venv));
    match ctx.env.get("VIRTUAL_ENV") {
        Some(active) if same_dir(Path::new(active), &dir) => {
            facts.push("active".to_owned());
        }
        Some(active) => {
            return Check::warn(
                id::PYTHON_VENV,
                format!("another virtualenv is active ({active}), not {venv}"),
                Some(format!("deactivate && {activate}")),
            )
            .into();
        }
        None if ctx.reqs.direnv && envrc_activates(ctx, venv) => {
            facts.push("direnv activates it".to_owned());
        }
        None => {
            return Check::warn(
                id::PYTHON_VENV,
                format!("{venv} is not active (VIRTUAL_ENV is unset)"),
                Some(activate),
            )
            .into();
        }
    }
    Check::ok(id::PYTHON_VENV, facts.join(", ")).into()
}

fn envrc_activates(ctx: &Ctx, venv: &str) -> bool {
    std::fs::read_to_string(ctx.root.join(".envrc"))
        .is_ok_and(|text| direnv::activation_line(&text, venv).is_some())
}

/// The version a venv was made with: `version` (venv), `version_info` (uv,
/// virtualenv: `3.11.7.final.0`).
fn venv_version(cfg: &str) -> Option<Version> {
    cfg.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        match k.trim() {
            "version" | "version_info" => {
                let numbers: Vec<&str> = v.trim().split('.').take(3).collect();
                Version::parse(&numbers.join("."))
            }
            _ => None,
        }
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// PEP 503 normalization: `Sentry_Kafka.schemas` → `sentry_kafka_schemas`
/// (underscores, because that is how wheels spell names in file names).
fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Whether any installer left its mark for `project` in the venv's
/// site-packages: `<name>-<version>.dist-info` (pip, uv), `<name>.egg-link`
/// (`setup.py develop`), `__editable__.<name>-<version>.pth` (setuptools'
/// PEP 660 editables), `<name>-<version>.egg-info`.
fn project_installed(venv: &Path, project: &str) -> bool {
    let want = normalize(project);
    let Ok(libs) = std::fs::read_dir(venv.join("lib")) else {
        return false;
    };
    libs.filter_map(Result::ok)
        .filter(|lib| lib.file_name().to_string_lossy().starts_with("python"))
        .filter_map(|lib| std::fs::read_dir(lib.path().join("site-packages")).ok())
        .flatten()
        .filter_map(Result::ok)
        .any(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            let name = if let Some(rest) = file.strip_prefix("__editable__.") {
                rest.split('-').next()
            } else if let Some(stem) = file
                .strip_suffix(".dist-info")
                .or_else(|| file.strip_suffix(".egg-info"))
            {
                stem.split('-').next()
            } else {
                file.strip_suffix(".egg-link")
            };
            name.is_some_and(|n| normalize(n) == want)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_versions_from_every_tool() {
        assert_eq!(
            venv_version("home = /usr/bin\nversion = 3.11.2\n"),
            Version::parse("3.11.2")
        );
        assert_eq!(
            venv_version("implementation = CPython\nversion_info = 3.13.1\n"),
            Version::parse("3.13.1")
        );
        assert_eq!(
            venv_version("version_info = 3.11.7.final.0\n"),
            Version::parse("3.11.7")
        );
        assert_eq!(venv_version("home = /usr/bin\n"), None);
    }

    #[test]
    fn names_normalize_like_pep_503() {
        assert_eq!(normalize("Sentry-Kafka.Schemas"), "sentry_kafka_schemas");
        assert_eq!(normalize("a__b"), "a_b");
    }

    #[test]
    fn candidates_start_with_the_versioned_name() {
        let pin = Pinned {
            req: super::super::version::VersionReq::parse("3.13").unwrap(),
            written: "3.13.1".to_owned(),
            source: super::super::requirements::Source::file(".python-version"),
        };
        assert_eq!(candidates(Some(&pin)), ["python3.13", "python3", "python"]);
        assert_eq!(candidates(None), ["python3", "python"]);
    }
}
