//! One test's isolated world: a temp dir holding the repo devrig runs in,
//! its HOME, XDG dirs, state dir and dependency cache, and the bare git
//! repositories its remotes are fetched from over `file://`. An engine
//! world also owns a unique compose project and takes everything of it off
//! the engine when dropped, whether the test passed or failed.

use super::docker::{EngineHold, docker_at, require_engine_at, require_testbed};
use super::test::Test;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use tempfile::TempDir;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The devrig binary cargo built for this test run.
pub const DEVRIG: &str = env!("CARGO_BIN_EXE_devrig");

pub struct World {
    tmp: TempDir,
    /// The engine world's compose project (its config's `service_name`).
    project: Option<String>,
    /// `DOCKER_HOST` of every command, when not the default engine.
    engine_host: Option<String>,
    /// Where the test's own `docker` looks, when not at `engine_host`.
    docker_host: Option<String>,
    /// Every compose project removed from the engine on drop.
    projects: Mutex<Vec<String>>,
    /// Values that differ from run to run, and what snapshots show instead.
    placeholders: Mutex<Vec<Placeholder>>,
    /// The hold on a shared engine other than the default one; released
    /// after the clean-up.
    hold: Option<EngineHold>,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// A world for commands that need no engine.
    pub fn new() -> World {
        let tmp = tempfile::Builder::new()
            .prefix("devrig-test-")
            .tempdir()
            .expect("temp dir");
        for dir in ["repo/devservices", "cache", "home", "remotes"] {
            std::fs::create_dir_all(tmp.path().join(dir)).expect("mkdir");
        }
        World {
            tmp,
            project: None,
            engine_host: None,
            docker_host: None,
            projects: Mutex::new(Vec::new()),
            placeholders: Mutex::new(Vec::new()),
            hold: None,
        }
    }

    /// A world on the test bed's engine, with a compose project of its own
    /// named `<prefix>-<pid>-<n>`. Fails (never skips) when the test bed is
    /// not running. On drop: `devrig down`, then every container, network
    /// and volume of its projects is removed.
    pub fn engine(prefix: &str) -> World {
        require_testbed();
        let mut world = World::new();
        let project = world.other_project(prefix);
        world.project = Some(project);
        world
    }

    /// As [`World::engine`], on the test bed's engine at `host` (its
    /// `DOCKER_HOST` for devrig, and for the clean-up), shared with other
    /// tests.
    pub fn engine_at(prefix: &str, host: &str) -> World {
        World::engine_held(prefix, host, EngineHold::shared(host))
    }

    /// As [`World::engine_at`], with the engine to this test alone (for
    /// commands that act on every devservices container of it).
    pub fn engine_alone(prefix: &str, host: &str) -> World {
        World::engine_held(prefix, host, EngineHold::alone(host))
    }

    fn engine_held(prefix: &str, host: &str, hold: EngineHold) -> World {
        require_engine_at(host);
        let mut world = World::engine(prefix);
        world.engine_host = Some(host.to_owned());
        world.hold = Some(hold);
        world
    }

    /// The engine's `DOCKER_HOST`, when not the default one.
    pub fn engine_host(&self) -> Option<&str> {
        self.engine_host.as_deref()
    }

    /// Removes every container, network and volume of this world's
    /// projects from the engine (what dropping the world does last).
    pub fn remove_projects(&self) {
        // A lock poisoned by a failing test still holds the names.
        let projects = self
            .projects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for project in &projects {
            let filter = format!("label=com.docker.compose.project={project}");
            let ids = self.docker(&["ps", "-aq", "--filter", &filter]);
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f", "-v"];
                args.extend(ids.lines());
                self.docker(&args);
            }
            // Snapshots (`devrig snapshot`) carry labels of devrig's own,
            // and their helper containers may hold them.
            let helpers = self.docker(&[
                "ps",
                "-aq",
                "--filter",
                &format!("label=devrig.snapshot.helper={project}"),
            ]);
            if !helpers.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(helpers.lines());
                self.docker(&args);
            }
            let snapshots = format!("label=devrig.snapshot.repo={project}");
            for (kind, filter) in [
                ("network", &filter),
                ("volume", &filter),
                ("volume", &snapshots),
            ] {
                let ids = self.docker(&[kind, "ls", "-q", "--filter", filter]);
                if !ids.is_empty() {
                    let mut args = vec![kind, "rm"];
                    args.extend(ids.lines());
                    self.docker(&args);
                }
            }
        }
    }

    /// A world whose engine is the test bed's devbox, reached as a user
    /// reaches theirs: `DOCKER_HOST=ssh://devbox`. Its `docker` (and the
    /// clean-up) look at the devbox's engine through its socket.
    pub fn devbox(prefix: &str) -> World {
        super::docker::require_devbox();
        let mut world = World::engine(prefix);
        world.engine_host = Some(super::docker::DEVBOX.to_owned());
        world.docker_host = Some(super::docker::DEVBOX_SOCKET.to_owned());
        world
    }

    /// A docker config dir (for `DOCKER_CONFIG`) whose current context is
    /// `name`, with its endpoint at `host`, as the docker CLI writes them.
    pub fn docker_context(&self, name: &str, host: &str) -> PathBuf {
        use sha2::Digest;
        let dir = self.root().join("docker-config");
        let digest: String = sha2::Sha256::digest(name.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        write(
            &dir.join("contexts/meta").join(digest).join("meta.json"),
            &format!(
                r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
            ),
        );
        write(
            &dir.join("config.json"),
            &format!(r#"{{"currentContext":"{name}"}}"#),
        );
        dir
    }

    /// `docker ARGS` on this world's engine.
    pub fn docker(&self, args: &[&str]) -> String {
        docker_at(
            self.docker_host.as_deref().or(self.engine_host.as_deref()),
            args,
        )
    }

    /// The engine world's compose project; `[PROJECT]` in snapshots.
    pub fn project(&self) -> &str {
        self.project
            .as_deref()
            .expect("only a World::engine has a project")
    }

    /// Another unique compose project (a remote's, a second repo's),
    /// removed from the engine with this world; `[PROJECT2]`, `[PROJECT3]`…
    /// in snapshots.
    pub fn other_project(&self, prefix: &str) -> String {
        let name = unique_project(prefix);
        self.projects.lock().expect("lock").push(name.clone());
        let n = self.projects.lock().expect("lock").len();
        let label = if n == 1 {
            "[PROJECT]".to_owned()
        } else {
            format!("[PROJECT{n}]")
        };
        self.add_placeholder(&name, &label, true);
        name
    }

    /// A free host port on 127.0.0.1 (free when asked; use it at once);
    /// `[PORT]`, `[PORT2]`… in snapshots. Below 32768: the ephemeral ports
    /// above are what outgoing connections take, which could take it
    /// between this question and its use.
    pub fn port(&self) -> u16 {
        let port = free_port();
        let n = self
            .placeholders
            .lock()
            .expect("lock")
            .iter()
            .filter(|p| p.label.starts_with("[PORT"))
            .count();
        let label = if n == 0 {
            "[PORT]".to_owned()
        } else {
            format!("[PORT{}]", n + 1)
        };
        self.add_placeholder(&port.to_string(), &label, true);
        port
    }

    /// Shows `value` as `label` in this world's snapshots, wherever it
    /// appears (`3.11` also in `python3.11`).
    pub fn placeholder(&self, value: &str, label: &str) {
        self.add_placeholder(value, label, false);
    }

    /// `whole`: not where `value` is the start of a longer number.
    fn add_placeholder(&self, value: &str, label: &str, whole: bool) {
        self.placeholders.lock().expect("lock").push(Placeholder {
            value: value.to_owned(),
            label: label.to_owned(),
            whole,
        });
    }

    /// The insta settings for this world's snapshots: its temp path, its
    /// projects and ports, and durations, pids, container ids and uptimes
    /// replaced by placeholders. `let _filters =
    /// world.snapshot_settings().bind_to_scope();` applies them to every
    /// `insta::assert_snapshot!` of the test.
    pub fn snapshot_settings(&self) -> insta::Settings {
        super::filters::settings(self.root(), &self.placeholders.lock().expect("lock"))
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// The repo devrig runs in.
    pub fn repo(&self) -> PathBuf {
        self.root().join("repo")
    }

    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    pub fn cache(&self) -> PathBuf {
        self.root().join("cache")
    }

    pub fn remotes(&self) -> PathBuf {
        self.root().join("remotes")
    }

    /// `DEVRIG_STATE_DIR`: who uses which project, and the sync state.
    pub fn state_dir(&self) -> PathBuf {
        self.root().join("state")
    }

    /// Writes `devservices/config.yml` of the repo (see [`World::expand`]).
    pub fn config(&self, text: &str) -> &Self {
        self.file("devservices/config.yml", text)
    }

    /// Writes a file relative to the repo (see [`World::expand`]).
    pub fn file(&self, rel: &str, text: &str) -> &Self {
        write(&self.repo().join(rel), &self.expand(text));
        self
    }

    /// `{remotes}` becomes the directory of the bare remote repositories,
    /// and GitHub's getsentry URLs point into it.
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
    pub fn all_fixture_remotes(&self) -> &Self {
        for entry in std::fs::read_dir(Path::new(FIXTURES).join("remotes")).expect("fixtures") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            self.fixture_remote(&name);
        }
        self
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

    /// A remote `<name>` whose `devservices/config.yml` is `config`.
    pub fn remote_config(&self, name: &str, config: &str) -> PathBuf {
        let text = self.expand(config);
        self.remote_from(name, |work| {
            write(&work.join("devservices/config.yml"), &text)
        })
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

    /// A run of devrig in this world, to be given args and expectations.
    pub fn devrig(&self) -> Test<'_> {
        Test::in_world(self)
    }

    /// devrig as a plain process in this world's environment, for tests
    /// that must spawn it, signal it or give it a terminal.
    pub fn command(&self) -> Command {
        self.command_for(Path::new(DEVRIG))
    }

    /// devrig with `args` started in the background in this world.
    pub fn spawn<I, S>(&self, args: I) -> super::Spawned
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.command();
        cmd.args(args);
        super::Spawned::start(cmd)
    }

    /// devrig started under another name (`devservices`, `devenv`): a link
    /// to the binary under `<root>/bin`.
    pub fn command_as(&self, name: &str) -> Command {
        self.command_for(&self.link_as(name))
    }

    /// Links the devrig binary as `<root>/bin/<name>` (once) and returns the link.
    pub fn link_as(&self, name: &str) -> PathBuf {
        let link = self.root().join("bin").join(name);
        if !link.exists() {
            std::fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
            std::os::unix::fs::symlink(DEVRIG, &link).expect("symlink");
        }
        link
    }

    /// `bin` run in the repo with only this world's environment: PATH, the
    /// isolated HOME and XDG dirs, the state dir, the dependency cache, the
    /// test bed's registry mirror, and a git identity.
    fn command_for(&self, bin: &Path) -> Command {
        let home = self.home();
        let mut cmd = Command::new(bin);
        cmd.current_dir(self.repo())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_RUNTIME_DIR", self.root().join("run"))
            .env("DEVRIG_STATE_DIR", self.state_dir())
            .env("DEVRIG_REGISTRY_MIRROR", super::docker::MIRROR)
            .env("DEVSERVICES_DEPENDENCIES_CACHE_DIR", self.cache())
            .envs(GIT_ENV.iter().copied());
        if let Some(host) = &self.engine_host {
            cmd.env("DOCKER_HOST", host);
        }
        cmd
    }

    /// What a supervised program of the engine world's project has written
    /// to its log so far (empty before it exists).
    pub fn program_log(&self, program: &str) -> String {
        std::fs::read_to_string(self.log_dir().join(format!("{program}.log"))).unwrap_or_default()
    }

    /// Where the supervisor of the engine world's project keeps its logs.
    pub fn log_dir(&self) -> PathBuf {
        self.home()
            .join(".local/state/devrig/logs")
            .join(self.project())
    }

    /// The modes of the repo's service, from `devrig list-services --json`.
    #[track_caller]
    pub fn modes(&self) -> Vec<String> {
        let services = self
            .devrig()
            .args(["list-services", "--all", "--json"])
            .run()
            .json();
        services[0]["modes"]
            .as_array()
            .expect("modes")
            .iter()
            .map(|m| m.as_str().expect("a mode name").to_owned())
            .collect()
    }

    /// `devrig status --json`, which must succeed.
    #[track_caller]
    pub fn status(&self) -> serde_json::Value {
        self.devrig().args(["status", "--json"]).run().json()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if self
            .projects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
        {
            return;
        }
        // Stops the supervisor and its programs too, which removing
        // containers would not.
        if self.project.is_some() && self.repo().join("devservices/config.yml").is_file() {
            let _ = self.command().arg("down").output();
        }
        let projects = self
            .projects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // `down` keeps the SSH connection while the state names other
        // services (a state rebuilt from a shared engine names its other
        // tests'): this world's connections go with it, and its projects'
        // bind-mount copies on the devbox.
        if self.docker_host.is_some() {
            let copies: Vec<String> = projects
                .iter()
                .map(|p| format!("~/.cache/devrig/mounts/{p}"))
                .collect();
            let _ = Command::new("ssh")
                .args(["-o", "BatchMode=yes", "-o", "ControlPath=none", "devbox"])
                .arg(format!("rm -rf {}", copies.join(" ")))
                .output();
            for control in std::fs::read_dir(self.root().join("run/devrig/ssh"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_none())
            {
                let _ = Command::new("ssh")
                    .arg("-o")
                    .arg(format!("ControlPath={}", control.display()))
                    .args(["-O", "exit", "devbox"])
                    .output();
            }
        }
        self.remove_projects();
    }
}

/// A value a world's snapshots show as `label`.
pub struct Placeholder {
    pub value: String,
    pub label: String,
    /// Not as the start of a longer number.
    pub whole: bool,
}

/// A port in 20000..32000 free on 127.0.0.1 and on every address, tried
/// from a start that differs per test process and call, so parallel tests
/// (and test runs) rarely reach for the same one.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let call = CALLS.fetch_add(1, Ordering::SeqCst);
    let start = (std::process::id().wrapping_mul(7919) + call * 101) % COUNT;
    (0..COUNT)
        .map(|i| u16::try_from(FIRST + (start + i) % COUNT).expect("below 32768"))
        .find(|port| {
            std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok()
                && std::net::TcpListener::bind(("0.0.0.0", *port)).is_ok()
        })
        .expect("a free port below 32768")
}

/// A unique compose project name for one test.
fn unique_project(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

const GIT_ENV: &[(&str, &str)] = &[
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_AUTHOR_NAME", "devrig test"),
    ("GIT_AUTHOR_EMAIL", "test@devrig.invalid"),
    ("GIT_COMMITTER_NAME", "devrig test"),
    ("GIT_COMMITTER_EMAIL", "test@devrig.invalid"),
];

/// Runs git in `cwd`, which must succeed.
pub fn git(cwd: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(cwd)
        .args(args)
        .envs(GIT_ENV.iter().copied())
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `text` to `path`, making its directory.
pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// Copies a directory of text files, passing each through `transform`.
pub fn copy_tree(src: &Path, dst: &Path, transform: &dyn Fn(&str) -> String) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for entry in std::fs::read_dir(src).expect("read dir") {
        let entry = entry.expect("entry");
        let target = dst.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target, transform);
        } else {
            let text = std::fs::read_to_string(entry.path()).expect("a text file");
            std::fs::write(target, transform(&text)).expect("write");
        }
    }
}

/// Polls `done` every 100 ms; fails the test after `timeout`.
pub fn wait_for(what: &str, timeout: std::time::Duration, mut done: impl FnMut() -> bool) {
    let began = std::time::Instant::now();
    while !done() {
        assert!(began.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
