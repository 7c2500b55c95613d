//! The supervisor under faults (issue 14, points 4 and 5): a full disk
//! under its logs and state never stops a program, is shown in `status`
//! and its own log, and passes once there is space again; `up` on a full
//! disk says so and leaves no temp file; a program's double-forked daemon
//! (fork, `setsid`, fork) is stopped by `down` and, after a kill -9 of the
//! supervisor, by its guardian: in the program's cgroup on this host, and
//! by its reparented process group with cgroups turned off.
//!
//! The full disk is a small tmpfs the test mounts under its world (the
//! tests run as root, as in CI) and unmounts when it ends.

mod common;

use common::{
    World, assert_status_schema, formatdoc, guardian_of, kill, marker, processes_with, program,
    programs_only, supervisor_pid, wait_for,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A tmpfs mounted at `dir` for one test, lazily unmounted when dropped
/// (the supervisor may still hold a log open there).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&dir).expect("mkdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount");
        assert!(
            status.success(),
            "mount a tmpfs at {} (as root)",
            dir.display()
        );
        Tmpfs { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Writes a file until the file system has no space left; its path.
    fn fill(&self) -> PathBuf {
        let filler = self.path("filler");
        let mut file = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "filling: {e}");
                    break;
                }
            }
        }
        // Even a byte no longer fits.
        assert!(file.write_all(&[0u8; 4096]).is_err());
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// A rotated log and its backup, oldest first.
fn log_text(path: &Path) -> String {
    let backup = PathBuf::from(format!("{}.1", path.display()));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    read(&backup) + &read(path)
}

#[test]
fn a_full_disk_under_the_logs_stops_no_program_shows_in_status_and_passes() {
    let world = World::engine("fulllog");
    let disk = Tmpfs::mount(world.root().join("disk"), "1m");
    let logs = disk.path("logs");
    // About 90 KB a second, in lines; a log of at most 2 × 200 KB.
    world.config(&programs_only(
        world.project(),
        indoc::indoc! {"
            chatty:
              command: sh -c 'while :; do seq 1 3000; sleep 0.1; done'
              stdout_logfile_maxbytes: 200KB
              stdout_logfile_backups: 1
        "},
    ));
    world.devrig().arg("up").env("DEVRIG_LOG_DIR", &logs).run();
    let log = logs.join(world.project()).join("chatty.log");
    let supervisor_log = logs.join(world.project()).join("devrig/supervisor.log");
    wait_for(
        "the first lines in the log",
        Duration::from_secs(10),
        || log_text(&log).contains("\n3000\n"),
    );
    let pid = program(&world.status(), "chatty")["pid"].clone();
    assert!(pid.is_i64(), "{pid}");

    let filler = disk.fill();
    wait_for(
        "status to show the log failing",
        Duration::from_secs(10),
        || {
            let status = world.status();
            let chatty = program(&status, "chatty");
            !chatty["log_error"].is_null()
                && chatty["log_error"]["dropped_bytes"].as_u64() > Some(0)
        },
    );
    let status = world.status();
    assert_status_schema(&status);
    let chatty = program(&status, "chatty");
    assert_eq!(chatty["state"], "running", "{status:#}");
    assert_eq!(chatty["pid"], pid, "the same process goes on: {status:#}");
    let failing = &chatty["log_error"];
    assert!(
        failing["error"]
            .as_str()
            .is_some_and(|e| e.contains("No space left on device")),
        "{failing}"
    );
    assert!(failing["held_bytes"].as_u64() > Some(0), "{failing}");
    world
        .devrig()
        .arg("status")
        .stdout_contains("log failing")
        .stdout_contains("log unwritable since")
        .stdout_contains("(No space left on device (os error 28))")
        .run();

    std::fs::remove_file(&filler).expect("remove the filler");
    wait_for(
        "the log to be written again",
        Duration::from_secs(10),
        || program(&world.status(), "chatty")["log_error"].is_null(),
    );
    wait_for("new lines after the note", Duration::from_secs(10), || {
        let text = log_text(&log);
        text.find("bytes of output were dropped here: this log could not be written from")
            .is_some_and(|at| text[at..].contains("\n3000\n"))
    });
    let after = world.status();
    assert_eq!(program(&after, "chatty")["pid"], pid, "{after:#}");
    // The supervisor's own log is on the same full disk: its lines about
    // the failure were held and written once there was space.
    let said = std::fs::read_to_string(&supervisor_log).expect("supervisor log");
    assert!(
        said.contains("cannot write the log of chatty")
            && said.contains("No space left on device")
            && said.contains("its program goes on"),
        "{said}"
    );
    assert!(
        said.contains("the log of chatty is written again"),
        "{said}"
    );
    world
        .devrig()
        .arg("down")
        .env("DEVRIG_LOG_DIR", &logs)
        .run();
}

#[test]
fn up_with_no_room_for_the_supervisors_log_says_so() {
    let world = World::engine("fullinodes");
    let disk = Tmpfs::mount(world.root().join("disk"), "1m,nr_inodes=64");
    // No inode left: not even a directory can be made.
    for n in 0.. {
        if let Err(e) = std::fs::File::create(disk.path(&format!("f{n}"))) {
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
            break;
        }
    }
    let lead = sleeping_worker(&world);
    world
        .devrig()
        .arg("up")
        .env("DEVRIG_LOG_DIR", disk.path("logs"))
        .code(1)
        .stderr_contains("cannot start the supervisor: cannot open its log [TMP]/disk/logs/")
        .stderr_contains("no space left on the file system holding [TMP]/disk/logs/")
        .stderr_contains("DEVRIG_LOG_DIR")
        .stderr_snapshot()
        .run();
    assert!(processes_with(&format!("sleep {lead}")).is_empty());
}

/// Configures the world's one program, `worker`, as `sleep MARKER`; the
/// marker.
fn sleeping_worker(world: &World) -> String {
    let lead = marker();
    world.config(&programs_only(
        world.project(),
        &formatdoc! {"
            worker:
              command: sleep {lead}
        "},
    ));
    lead
}

/// Temp files of the state store left in `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn up_and_down_on_a_full_disk_say_so_and_leave_no_temp_file() {
    let world = World::engine("fullstate");
    let disk = Tmpfs::mount(world.root().join("disk"), "512k");
    let (state, logs) = (disk.path("state"), disk.path("logs"));
    let lead = sleeping_worker(&world);
    let env = [("DEVRIG_STATE_DIR", &state), ("DEVRIG_LOG_DIR", &logs)];
    let full = "no space left on the file system holding [TMP]/disk/state: free some there";
    // On a full disk, `up` cannot record the repo in the state, and
    // `down` cannot forget it.
    let on_a_full_disk = |command: &str| {
        let filler = disk.fill();
        world
            .devrig()
            .arg(command)
            .envs(env)
            .code(1)
            .stderr_contains(full)
            .stderr_lacks("permissions")
            .stderr_snapshot()
            .run();
        assert_eq!(temp_files(&state), Vec::<String>::new());
        std::fs::remove_file(&filler).expect("remove the filler");
    };
    on_a_full_disk("up");
    world.devrig().arg("up").envs(env).run();
    on_a_full_disk("down");
    world.devrig().arg("down").envs(env).run();
    assert!(processes_with(&format!("sleep {lead}")).is_empty());
}

/// A program whose daemon forks, calls `setsid` and forks again: the
/// daemon (`python3 daemon.py MARKER`) has PPID 1, or the supervisor's,
/// and a process group and session of its own; the program itself goes on.
fn up_with_a_daemon(prefix: &str, cgroups: bool) -> (World, String) {
    let world = World::engine(prefix);
    let daemon = world.root().join("daemon.py");
    std::fs::write(
        &daemon,
        indoc::indoc! {"
            import os, sys, time
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(3600)
                os._exit(0)
            os.wait()
            time.sleep(3600)
        "},
    )
    .expect("daemon.py");
    let mark = marker();
    world.config(&programs_only(
        world.project(),
        &formatdoc! {"
            server:
              command: python3 {daemon} daemon-{mark}
              stopwaitsecs: 2
        ", daemon = daemon.display()},
    ));
    let mut up = world.devrig().arg("up");
    if !cgroups {
        up = up.env("DEVRIG_NO_CGROUPS", "1");
    }
    up.run();
    let needle = format!("daemon-{mark}");
    wait_for(
        "the program and its daemon",
        Duration::from_secs(10),
        || processes_with(&needle).len() == 2,
    );
    (world, needle)
}

fn supervisor_log(world: &World) -> String {
    std::fs::read_to_string(world.log_dir().join("devrig/supervisor.log")).unwrap_or_default()
}

/// The supervisor's cgroup, from its log's first lines.
fn cgroup_of(world: &World) -> PathBuf {
    let log = supervisor_log(world);
    let below = "each program runs in a cgroup of its own, below ";
    let at = log
        .find(below)
        .unwrap_or_else(|| panic!("this host gives the supervisor cgroups: {log}"));
    PathBuf::from(log[at + below.len()..].lines().next().expect("a path"))
}

/// Waits until no process has `needle` in its command line, and `cgroup`
/// (when given) is removed.
fn all_gone(needle: &str, cgroup: Option<&Path>) {
    wait_for(
        "the program and its daemon to go",
        Duration::from_secs(10),
        || processes_with(needle).is_empty(),
    );
    if let Some(cgroup) = cgroup {
        wait_for("the cgroups to be removed", Duration::from_secs(10), || {
            !cgroup.exists()
        });
    }
}

#[test]
fn a_double_forked_daemon_goes_with_a_killed_supervisor_through_its_cgroup() {
    let (world, needle) = up_with_a_daemon("daemon-kill", true);
    let cgroup = cgroup_of(&world);
    assert!(cgroup.join("server").is_dir(), "{}", cgroup.display());
    kill(supervisor_pid(&world), libc::SIGKILL);
    all_gone(&needle, Some(&cgroup));
}

#[test]
fn down_stops_a_double_forked_daemon_in_its_cgroup() {
    let (world, needle) = up_with_a_daemon("daemon-down", true);
    let cgroup = cgroup_of(&world);
    world.devrig().arg("down").run();
    all_gone(&needle, Some(&cgroup));
}

#[test]
fn without_cgroups_the_guardian_stops_the_daemon_that_came_to_the_supervisor() {
    let (world, needle) = up_with_a_daemon("daemon-groups", false);
    assert!(
        supervisor_log(&world).contains("programs are tracked by process group"),
        "{}",
        supervisor_log(&world)
    );
    wait_for(
        "the supervisor to guard the daemon's group",
        Duration::from_secs(10),
        || {
            supervisor_log(&world)
                .contains("left its program's process group and came to this supervisor")
        },
    );
    kill(supervisor_pid(&world), libc::SIGKILL);
    all_gone(&needle, None);
}

#[test]
fn without_cgroups_down_stops_the_daemon_too() {
    let (world, needle) = up_with_a_daemon("daemon-groups-down", false);
    world.devrig().arg("down").run();
    all_gone(&needle, None);
}

/// With its guardian killed too, nothing stops the daemon at once (the
/// kernel's parent-death signal reaches the program's leader only); the
/// next supervisor of the repo finds the dead one's cgroup, kills what is
/// in it and removes it.
#[test]
fn the_next_supervisor_clears_what_a_supervisor_killed_with_its_guardian_left() {
    let (world, needle) = up_with_a_daemon("daemon-both", true);
    let cgroup = cgroup_of(&world);
    let supervisor = supervisor_pid(&world);
    let guardian = guardian_of(supervisor);
    kill(guardian, libc::SIGKILL);
    kill(supervisor, libc::SIGKILL);
    wait_for(
        "the program's leader to go",
        Duration::from_secs(10),
        || processes_with(&needle).len() == 1,
    );
    world.devrig().arg("up").run();
    wait_for("the old daemon to go", Duration::from_secs(10), || {
        processes_with(&needle).len() == 2 && !cgroup.exists()
    });
    assert!(
        supervisor_log(&world).contains(&format!(
            "removed {}, left by supervisor {supervisor}, which is gone",
            cgroup.display()
        )),
        "{}",
        supervisor_log(&world)
    );
}
