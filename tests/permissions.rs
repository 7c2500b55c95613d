//! Nobody else in (issue 14, points 7 and 8) and a corrupt state said so
//! (point 11): devrig's runtime dir, sockets, state and logs against a
//! real second local user, made with `useradd` for the test and removed
//! after, who plants the fallback runtime dir and a fake supervisor; the
//! modes of every directory and file `up`, `sync` and a state write leave;
//! what an older devrig left readable made private once, with one warning.

mod common;

use common::{World, devservices_config, formatdoc, indoc, wait_for};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

/// A local user of the machine for one test: `useradd` on creation,
/// `userdel` (and its processes killed) on drop, whether the test passed
/// or failed.
struct OtherUser {
    name: String,
    uid: u32,
    servers: Vec<Child>,
}

impl OtherUser {
    fn new() -> OtherUser {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "devrig-t{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        shadow_tool(
            "useradd",
            &[
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--user-group",
                &name,
            ],
        );
        let out = Command::new("id").args(["-u", &name]).output().expect("id");
        let uid = String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .parse()
            .expect("a uid");
        OtherUser {
            name,
            uid,
            servers: Vec::new(),
        }
    }

    /// `python3 -c script args` as this user, in the background.
    fn python(&mut self, script: &str, args: &[&Path]) {
        let uid = self.uid.to_string();
        let child = Command::new("setpriv")
            .args(["--reuid", &uid, "--regid", &uid, "--clear-groups", "--"])
            .args(["python3", "-c", script])
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .spawn()
            .expect("setpriv runs python3 as the other user");
        self.servers.push(child);
    }

    /// A fake supervisor of this user's on a socket at `socket` (its
    /// directory made 0777 when missing): each connection appends
    /// `connected, N bytes` to `log` once the client hangs up, N what the
    /// client sent. Returns once it listens.
    fn fake_supervisor(&mut self, socket: &Path, log: &Path) {
        const SERVER: &str = r#"
import os, socket, sys
sock, log = sys.argv[1], sys.argv[2]
d = os.path.dirname(sock)
if not os.path.isdir(d):
    os.mkdir(d)
    os.chmod(d, 0o777)
s = socket.socket(socket.AF_UNIX)
s.bind(sock)
os.chmod(sock, 0o777)
s.listen(8)
open(log + '.ready', 'w').close()
while True:
    c, _ = s.accept()
    got = b''
    while True:
        b = c.recv(65536)
        if not b:
            break
        got += b
    with open(log, 'a') as f:
        f.write('connected, %d bytes\n' % len(got))
    c.close()
"#;
        self.python(SERVER, &[socket, log]);
        let ready = PathBuf::from(format!("{}.ready", log.display()));
        wait_for("the fake supervisor", Duration::from_secs(10), || {
            ready.exists()
        });
    }
}

impl Drop for OtherUser {
    fn drop(&mut self) {
        for child in &mut self.servers {
            let _ = child.kill();
            let _ = child.wait();
        }
        shadow_tool("userdel", &[&self.name]);
    }
}

/// `useradd`/`userdel`, retried while another one holds /etc/passwd's
/// lock (exit 10: parallel tests add users too).
fn shadow_tool(tool: &str, args: &[&str]) {
    for _ in 0..100 {
        let out = Command::new(tool).args(args).output().expect(tool);
        match out.status.code() {
            Some(0) => return,
            Some(10) => std::thread::sleep(Duration::from_millis(50)),
            _ => panic!(
                "{tool} {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    panic!("{tool} {args:?}: /etc/passwd stayed locked");
}

/// A temp dir that every user may write in, like /tmp (1777): the test's
/// TMPDIR, where the fallback runtime dir goes.
fn shared_tmp() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("devrig-shared-")
        .tempdir()
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    dir
}

fn my_uid() -> u32 {
    std::fs::metadata("/proc/self").expect("/proc/self").uid()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .mode()
        & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// An engine world whose repo runs one program, `sleeper`.
fn one_program(prefix: &str) -> World {
    let world = World::engine(prefix);
    world.config(&devservices_config(
        world.project(),
        indoc! {"
            x-programs:
              sleeper:
                command: sleep 600
        "},
    ));
    world
}

/// [`one_program`]'s world, a shared temp dir and another user, shown in
/// snapshots as `[SHARED]`, `[USER]` and `[UID]`.
fn with_other_user(prefix: &str) -> (World, tempfile::TempDir, OtherUser) {
    let world = one_program(prefix);
    let shared = shared_tmp();
    let other = OtherUser::new();
    world.placeholder(&shared.path().display().to_string(), "[SHARED]");
    world.placeholder(&other.name, "[USER]");
    world.placeholder(&other.uid.to_string(), "[UID]");
    (world, shared, other)
}

/// What the fake supervisor logged (empty when nobody connected).
fn connections(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

#[test]
fn a_planted_fallback_runtime_dir_is_refused_and_its_socket_never_talked_to() {
    let (world, shared, mut other) = with_other_user("perm-plant");
    // The other user makes root's fallback dir first, 0777, and listens
    // where root's supervisor socket would be.
    let dir = shared.path().join(format!("devrig-{}", my_uid()));
    let log = shared.path().join("fake.log");
    other.fake_supervisor(&dir.join(format!("{}.sock", world.project())), &log);
    assert_eq!(mode(&dir), 0o777);

    let run = |args: &[&str]| {
        world
            .devrig()
            .args(args)
            .env("XDG_RUNTIME_DIR", "")
            .env("TMPDIR", shared.path())
            .code(1)
    };
    run(&["status"]).stderr_snapshot().run();
    run(&["down"]).stderr_snapshot().run();
    run(&["up"]).stderr_snapshot().run();
    assert_eq!(connections(&log), "", "devrig talked to the planted socket");
    // Nothing of devrig's went in there either.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the planted dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [format!("{}.sock", world.project())]);
}

#[test]
fn a_socket_of_another_user_or_a_process_of_another_user_is_refused() {
    let (world, shared, mut other) = with_other_user("perm-sock");
    // The runtime dir is root's and 0700, as devrig makes it; the other
    // user's socket is moved in (by root: only root could).
    let dir = shared.path().join("run");
    std::fs::create_dir(&dir).expect("mkdir");
    set_mode(&dir, 0o700);
    let theirs = shared.path().join("theirs");
    let log = shared.path().join("fake.log");
    other.fake_supervisor(&theirs.join("s.sock"), &log);
    let socket = dir.join(format!("{}.sock", world.project()));
    std::fs::rename(theirs.join("s.sock"), &socket).expect("mv");
    let status = || {
        world
            .devrig()
            .arg("status")
            .env("DEVRIG_RUNTIME_DIR", &dir)
            .code(1)
    };
    // Its file is the other user's: not connected to.
    status().stderr_snapshot().run();
    assert_eq!(connections(&log), "");
    // Its file made root's, but the process answering runs as the other
    // user (SO_PEERCRED): connected, then nothing sent.
    std::os::unix::fs::lchown(&socket, Some(0), Some(0)).expect("chown");
    status().stderr_snapshot().run();
    wait_for("the fake supervisor's log", Duration::from_secs(10), || {
        !connections(&log).is_empty()
    });
    assert_eq!(connections(&log), "connected, 0 bytes\n");
}

#[test]
fn the_fallback_runtime_dir_is_made_0700_and_an_open_one_of_ones_own_is_refused() {
    let world = one_program("perm-fallback");
    let shared = shared_tmp();
    world.placeholder(&shared.path().display().to_string(), "[SHARED]");
    let dir = shared.path().join(format!("devrig-{}", my_uid()));
    let run = || {
        world
            .devrig()
            .env("XDG_RUNTIME_DIR", "")
            .env("TMPDIR", shared.path())
    };
    run().arg("up").run();
    assert_eq!(mode(&dir), 0o700);
    let socket = dir.join(format!("{}.sock", world.project()));
    assert_eq!(mode(&socket) & 0o777, 0o600);
    run().arg("down").run();
    // One's own, but others may write in it: refused too, with how to fix.
    set_mode(&dir, 0o775);
    run().arg("up").code(1).stderr_snapshot().run();
    set_mode(&dir, 0o700);
    run().arg("up").run();
    run().arg("down").run();
}

#[test]
fn up_sync_and_the_state_leave_directories_0700_and_files_0600() {
    let world = World::engine("perm-modes");
    let config = devservices_config(
        world.project(),
        indoc! {r#"
            x-programs:
              chatty:
                command: python3 chatty.py
                stdout_logfile_maxbytes: 4KB
                stdout_logfile_backups: 1
            services:
              cache:
                image: redis:7
                command: [redis-server, --port, "7777", --save, ""]
        "#},
    );
    world.config(&formatdoc! {"
        {config}
        x-devenv:
          sync:
            - name: a
              command: echo a
    "});
    // 200 lines of 60 bytes: one rotation of a 4 KB log.
    world.file(
        "chatty.py",
        indoc! {"
            import time
            for i in range(200):
                print('x' * 60, flush=True)
            time.sleep(600)
        "},
    );
    // Always pulled, so that `pulls.json` records it.
    world.devrig().args(["up", "--pull", "always"]).run();
    world.devrig().arg("sync").run();
    let logs = world.log_dir();
    wait_for("a rotated log", Duration::from_secs(10), || {
        logs.join("chatty.log.1").exists()
    });
    let state = world.state_dir();
    let sync_record = std::fs::read_dir(state.join("sync"))
        .expect("sync records")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a sync record");
    let runtime = world.root().join("run/devrig");
    let dirs = [
        state.clone(),
        state.join("sync"),
        world.home().join(".local/state/devrig"),
        world.home().join(".local/state/devrig/logs"),
        logs.clone(),
        logs.join("devrig"),
        world.root().join("run"),
        runtime.clone(),
    ];
    let files = [
        state.join("state.json"),
        state.join("state.lock"),
        state.join("pulls.json"),
        sync_record,
        logs.join("chatty.log"),
        logs.join("chatty.log.1"),
        logs.join("devrig/supervisor.log"),
        runtime.join(format!("{}.lock", world.project())),
        runtime.join(format!("{}.sock", world.project())),
    ];
    let modes = |paths: &[PathBuf]| -> Vec<(String, String)> {
        paths
            .iter()
            .map(|p| {
                let shown = p.strip_prefix(world.root()).unwrap_or(p).display();
                (shown.to_string(), format!("{:04o}", mode(p)))
            })
            .collect()
    };
    let want = |paths: &[PathBuf], m: &str| -> Vec<(String, String)> {
        modes(paths)
            .into_iter()
            .map(|(p, _)| (p, m.to_owned()))
            .collect()
    };
    assert_eq!(modes(&dirs), want(&dirs, "0700"));
    assert_eq!(modes(&files), want(&files, "0600"));
    // A state write (down rewrites it) keeps the file private.
    world.devrig().arg("down").run();
    assert_eq!(mode(&state.join("state.json")), 0o600);
}

#[test]
fn what_an_older_devrig_left_readable_is_made_private_once_with_one_warning() {
    let world = one_program("perm-old");
    world.devrig().arg("up").run();
    world.devrig().arg("down").run();
    // As an older devrig (umask 022) left them.
    let state = world.state_dir();
    let logs = world.log_dir();
    let old = [
        (state.clone(), 0o755),
        (state.join("state.json"), 0o644),
        (logs.clone(), 0o755),
        (logs.join("sleeper.log"), 0o644),
        (logs.join("devrig/supervisor.log"), 0o644),
    ];
    for (path, m) in &old {
        set_mode(path, *m);
    }
    let _filters = world.snapshot_settings().bind_to_scope();
    let out = world.devrig().arg("up").run();
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("yours alone"))
        .collect();
    insta::assert_snapshot!(warnings.join("\n"), @"warning: other users could read devrig's files; made 2 directories and 3 files yours alone, in [TMP]/state and [TMP]/home/.local/state/devrig/logs");
    for (path, m) in &old {
        let want = if *m == 0o755 { 0o700 } else { 0o600 };
        assert_eq!(mode(path), want, "{}", path.display());
    }
    // Nothing left to do: said once.
    world.devrig().arg("down").stderr_lacks("yours alone").run();
}

#[test]
fn a_corrupt_state_file_is_rebuilt_with_one_warning_that_says_why() {
    let world = one_program("perm-corrupt");
    // Private, as devrig makes them: only the garbage is to be said.
    let state = world.state_dir().join("state.json");
    std::fs::create_dir_all(world.state_dir()).expect("mkdir");
    set_mode(&world.state_dir(), 0o700);
    std::fs::write(&state, b"\xff\xfe\x00garbage\x9c{").expect("write");
    set_mode(&state, 0o600);
    world.devrig().arg("down").stderr_snapshot().run();
    // Rebuilt and saved: the next run has nothing to say about it.
    world.devrig().arg("down").stderr_lacks("state file").run();
}
