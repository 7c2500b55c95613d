//! Starting a program: its environment, a process group of its own (and
//! its cgroup, where it has one), the parent-death signal, and its output
//! copied to its log.

use super::writer::Writer;
use crate::supervisor::group;
use crate::supervisor::protocol::ProgramSpec;
use crate::sys;
use indexmap::IndexMap;
use std::io;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// Variables that keep colors on when output goes to a log instead of a
/// terminal, and Python's output unbuffered so logs are current. A
/// developer's own value (or `NO_COLOR`) wins.
const OUTPUT_DEFAULTS: &[(&str, &str)] = &[
    ("FORCE_COLOR", "1"),
    ("CLICOLOR_FORCE", "1"),
    ("PYTHONUNBUFFERED", "1"),
];

fn environment(spec: &ProgramSpec) -> Vec<(String, String)> {
    let mut env: IndexMap<String, String> = spec.inherited.iter().cloned().collect();
    for (k, v) in &spec.environment {
        env.insert(k.clone(), v.clone());
    }
    let no_color = env.contains_key("NO_COLOR");
    for (k, v) in OUTPUT_DEFAULTS {
        if no_color && *k != "PYTHONUNBUFFERED" {
            continue;
        }
        env.entry((*k).to_owned())
            .or_insert_with(|| (*v).to_owned());
    }
    env.into_iter().collect()
}

/// Starts the program as the leader of a new process group, in the cgroup
/// `entrance` leads to (before it runs a single instruction of its own, so
/// nothing it starts is ever outside), its output copied to its log
/// (through `writer`). The spawn happens on the loop's only thread, so no
/// other thread's `waitpid` can race std's own on a failed exec.
pub fn start_process(
    spec: &ProgramSpec,
    logs: &Writer,
    closed: Closed,
    entrance: Option<sys::Entrance>,
) -> io::Result<i32> {
    let (exe, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let (reader, writer) = io::pipe()?;
    let mut command = Command::new(exe);
    command
        .args(args)
        .env_clear()
        .envs(environment(spec))
        .current_dir(&spec.directory)
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let stop_signal = group::from_number(spec.stop_signal)?;
    let supervisor = rustix::process::getpid();
    // The parent-death signal must be asked for by the child itself, after
    // fork and before exec; std has no safe hook there, and `pre_exec` is
    // unsafe by nature.
    // SAFETY: the closure makes only async-signal-safe calls (prctl,
    // getppid and one write to a file descriptor opened before the fork,
    // through rustix: raw syscalls on Linux; elsewhere getppid alone,
    // libc's wrapper), allocates nothing (an `Errno` becomes an `io::Error`
    // in place) and only reads two `Copy` values and a file descriptor
    // moved into it.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            // Last line of defence, should the guardian die with the
            // supervisor (`pkill -9 devrig`): the kernel itself sends the
            // leader its stop signal (Linux only; see `sys`). (The
            // guardian, when alive, stops the whole group, with a grace
            // period.) Only this one thread ever spawns, so the signal
            // comes when the process dies.
            sys::set_parent_death_signal(stop_signal)?;
            if rustix::process::getppid() != Some(supervisor) {
                // The supervisor died before the line above took effect.
                // Only an errno crosses from here to the parent (which is
                // gone anyway), and an errno needs no allocation.
                return Err(rustix::io::Errno::SRCH.into());
            }
            // Into its cgroup before exec: whatever it forks is in there.
            if let Some(entrance) = &entrance {
                entrance.enter()?;
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    // The command holds the pipe's write ends; only the program may keep
    // them, or the copy below would never see the end of its output.
    drop(command);
    copy_output(reader, logs.clone(), closed)?;
    i32::try_from(child.id()).map_err(|_| io::Error::other("pid out of range"))
}

/// Where to say that a program's output ended: the channel, the program,
/// its generation.
pub type Closed = (mpsc::UnboundedSender<(String, u64)>, String, u64);

/// Reads the program's output as it comes (on the loop's thread, without
/// blocking it) and hands it to the writer.
fn copy_output(
    reader: io::PipeReader,
    writer: Writer,
    (closed, name, generation): Closed,
) -> io::Result<()> {
    let mut receiver = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match receiver.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => writer.output(&name, buf[..n].to_vec()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = closed.send((name, generation));
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Autorestart;
    use rustix::process::Signal;

    fn spec(environment: &[(&str, &str)], inherited: &[(&str, &str)]) -> ProgramSpec {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        ProgramSpec {
            name: "worker".into(),
            argv: vec!["true".into()],
            environment: pairs(environment),
            inherited: pairs(inherited),
            directory: "/".into(),
            autostart: true,
            autorestart: Autorestart::Always,
            stop_signal: Signal::TERM.as_raw(),
            stop_grace_ms: 1000,
            start_secs: 1,
            start_retries: 3,
            log_max_bytes: 0,
            log_backups: 0,
        }
    }

    #[test]
    fn colors_are_forced_unless_the_developer_says_otherwise() {
        let env =
            |s: &ProgramSpec| -> IndexMap<String, String> { environment(s).into_iter().collect() };
        let plain = env(&spec(&[("A", "1")], &[("PATH", "/bin"), ("A", "0")]));
        assert_eq!(plain["A"], "1", "the program's own value wins");
        assert_eq!(plain["PATH"], "/bin");
        assert_eq!(plain["FORCE_COLOR"], "1");
        assert_eq!(plain["CLICOLOR_FORCE"], "1");
        assert_eq!(plain["PYTHONUNBUFFERED"], "1");
        let mono = env(&spec(&[], &[("NO_COLOR", "1")]));
        assert!(!mono.contains_key("FORCE_COLOR") && !mono.contains_key("CLICOLOR_FORCE"));
        assert_eq!(mono["PYTHONUNBUFFERED"], "1");
        let own = env(&spec(&[("FORCE_COLOR", "0")], &[]));
        assert_eq!(own["FORCE_COLOR"], "0");
    }

    #[test]
    fn a_new_shell_alone_does_not_restart_a_program() {
        let a = spec(&[("A", "1")], &[("SHLVL", "1")]);
        let b = spec(&[("A", "1")], &[("SHLVL", "2")]);
        assert!(!a.differs_from(&b));
        assert!(a.differs_from(&spec(&[("A", "2")], &[("SHLVL", "1")])));
    }
}
