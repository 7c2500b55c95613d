//! The engine dying under a running `up`, on a dockerd each test starts
//! for itself (its own socket, data root, exec root and address pool, no
//! iptables): killing the test bed's shared engine would take every other
//! test down with it. Whatever devrig was doing (waiting for readiness,
//! pulling), a lost connection is the engine error: exit 3, the address,
//! the hint, never the HTTP client's own words.

mod common;

use common::{MIRROR, World, devservices_config, formatdoc, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A dockerd of the test's own. Dropped, it is started once more so that it
/// clears what the killed one left running (it does on start, without
/// live-restore), then stopped cleanly and its directories removed.
struct MortalEngine {
    dir: tempfile::TempDir,
    exec_root: PathBuf,
    child: Option<Child>,
}

impl MortalEngine {
    /// `net` picks its address pool (10.`net`.0.0/16): unique per test.
    fn start(net: u8) -> MortalEngine {
        common::require_testbed();
        let dir = tempfile::Builder::new()
            .prefix("devrig-mortal-")
            .tempdir()
            .expect("tempdir");
        // Socket paths under the exec root must stay short.
        let exec_root = PathBuf::from(format!("/run/devrig-mortal-{}-{net}", std::process::id()));
        let config = dir.path().join("daemon.json");
        let daemon = serde_json::json!({
            "hosts": [format!("unix://{}", dir.path().join("docker.sock").display())],
            "data-root": dir.path().join("data"),
            "exec-root": exec_root,
            "pidfile": dir.path().join("docker.pid"),
            "bridge": "none",
            "iptables": false,
            "ip-masq": false,
            "default-address-pools": [{"base": format!("10.{net}.0.0/16"), "size": 24}],
            "insecure-registries": [MIRROR],
        });
        std::fs::write(&config, daemon.to_string()).expect("write daemon.json");
        let mut engine = MortalEngine {
            dir,
            exec_root,
            child: None,
        };
        engine.launch();
        engine
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("dockerd.log")).expect("log");
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(self.dir.path().join("daemon.json"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start dockerd (the test bed installs it)");
        self.child = Some(child);
        let host = self.host();
        wait_for("the test's own dockerd", Duration::from_secs(60), || {
            Command::new("docker")
                .args(["-H", &host, "version"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    }

    /// Its `DOCKER_HOST`.
    fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// kill -9: no clean shutdown, connections cut mid-request. Its
    /// containerd dies with it (dockerd starts it with a parent-death
    /// signal) but leaves its pidfile, which would make the next dockerd
    /// wait for a containerd that is not there.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let pidfile = self.exec_root.join("containerd/containerd.pid");
        let ours = |pid: i64| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                String::from_utf8_lossy(&cmdline).contains(&*self.exec_root.to_string_lossy())
            })
        };
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i64>().ok())
            && ours(pid)
        {
            common::kill(pid, libc::SIGKILL);
            wait_for("its containerd to go", Duration::from_secs(10), || {
                !ours(pid)
            });
        }
        let _ = std::fs::remove_file(pidfile);
    }

    fn docker(&self, args: &[&str]) -> String {
        common::docker_at(Some(&self.host()), args)
    }
}

impl Drop for MortalEngine {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(self.socket());
        self.launch();
        let all = self.docker(&["ps", "-aq"]);
        if !all.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(all.lines());
            self.docker(&args);
        }
        if let Some(mut child) = self.child.take() {
            common::kill(i64::from(child.id()), libc::SIGTERM);
            let _ = child.wait();
        }
        // dockerd leaves its data root bind-mounted on itself.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut under: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|m| Path::new(m).starts_with(self.dir.path()))
            .collect();
        under.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for mount in under {
            let _ = Command::new("umount").args(["-l", mount]).status();
        }
        let _ = std::fs::remove_dir_all(self.dir.path().join("data"));
        let _ = std::fs::remove_dir_all(&self.exec_root);
    }
}

/// A registry in front of the test bed's that answers everything but
/// blobs: a blob request is held open, so a pull hangs mid-way. Returns
/// its address and whether a blob was asked for.
fn stalling_registry() -> (String, Arc<AtomicBool>) {
    let stalled = Arc::new(AtomicBool::new(false));
    let seen = stalled.clone();
    let port = common::registry_proxy(move |line| {
        if line.contains("/blobs/") {
            seen.store(true, Ordering::SeqCst);
            common::Verdict::Hold
        } else {
            common::Verdict::Relay
        }
    });
    (format!("127.0.0.1:{port}"), stalled)
}

/// What devrig must say when the engine at `socket` went away.
fn assert_lost(code: Option<i32>, stderr: &str, socket: &Path) {
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: lost the Docker engine at unix://{}",
            socket.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: check that the engine still runs"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hyper") && !stderr.contains("SendRequest"),
        "{stderr}"
    );
}

/// Killed while `up` waits for a container that never gets ready.
#[test]
fn an_engine_killed_while_up_waits_for_readiness_is_exit_3() {
    let mut engine = MortalEngine::start(231);
    let world = World::engine("deathwait");
    let project = world.project();
    world.config(&devservices_config(
        project,
        &formatdoc! {r#"
        services:
          never:
            image: redis:7
            command: [redis-server, --port, "7777", --save, ""]
            healthcheck:
              test: "false"
              interval: 1s
    "#},
    ));
    let mut cmd = world.command();
    cmd.env("DOCKER_HOST", engine.host()).arg("up");
    let up = common::Spawned::start(cmd);
    let container = format!("{project}-never-1");
    wait_for(
        "the never-ready container",
        Duration::from_secs(120),
        || engine.docker(&["inspect", "--format", "{{.State.Status}}", &container]) == "running",
    );
    engine.kill();
    let (status, _, stderr) = up.wait();
    assert_lost(status.code(), &stderr, &engine.socket());
}

/// Killed while the engine pulls an image for `up` (the registry holds the
/// layer back, so the pull is surely under way).
#[test]
fn an_engine_killed_mid_pull_is_exit_3() {
    let mut engine = MortalEngine::start(232);
    let (registry, stalled) = stalling_registry();
    let world = World::engine("deathpull");
    let project = world.project();
    world.config(&devservices_config(
        project,
        &formatdoc! {r#"
        services:
          kv:
            image: redis:7
    "#},
    ));
    let mut cmd = world.command();
    cmd.env("DOCKER_HOST", engine.host())
        .env("DEVRIG_REGISTRY_MIRROR", &registry)
        .arg("up");
    let up = common::Spawned::start(cmd);
    wait_for(
        "the pull to ask for a layer",
        Duration::from_secs(60),
        || stalled.load(Ordering::SeqCst),
    );
    engine.kill();
    let (status, _, stderr) = up.wait();
    assert_lost(status.code(), &stderr, &engine.socket());
}
