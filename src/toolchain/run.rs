//! Running the tools a check asks (`python3 --version`, `direnv status`):
//! in the given environment only, without a terminal, and never for longer
//! than a timeout, so that a hung shim cannot hang `devenv doctor`.

use super::env::HostEnv;
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a version query or status command may take. Real ones take
/// milliseconds (a Node-based tool such as pnpm, a few hundred); a tool that
/// needs longer is waiting for something, such as a download prompt.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a fix may take: creating a venv with pip takes seconds.
pub const FIX_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The first non-blank line of stdout, else of stderr: where tools put
    /// their version or their complaint.
    pub fn first_line(&self) -> &str {
        first_line(&self.stdout)
            .or_else(|| first_line(&self.stderr))
            .unwrap_or("")
    }

    /// The first non-blank line of stderr, else of stdout: why it failed.
    pub fn error_line(&self) -> &str {
        first_line(&self.stderr)
            .or_else(|| first_line(&self.stdout))
            .unwrap_or("")
    }
}

fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| !l.is_empty())
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` did not finish within {}", human(*timeout))]
    Timeout { command: String, timeout: Duration },
}

fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// A command for `program` that runs in `cwd` with exactly `env`'s variables
/// and no stdin (a prompt must fail, not wait for an answer nobody gives).
pub fn command(program: &Path, cwd: &Path, env: &HostEnv) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd)
        .env_clear()
        .envs(env.vars())
        .stdin(Stdio::null());
    cmd
}

/// `program arg…` as the user would type it, for messages.
pub fn display(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let name = program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy();
    std::iter::once(name.into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .map(|w| shell_words::quote(&w).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to completion and captures its output, killing it after
/// `timeout`.
pub fn run(mut cmd: Command, timeout: Duration) -> Result<Output, RunError> {
    let shown = display(&cmd);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunError::Spawn {
            command: shown.clone(),
            source,
        })?;
    // Both pipes are drained while the child runs, so a chatty child cannot
    // block on a full pipe. The readers are not joined after a timeout: a
    // grandchild (a pyenv shim's python) may still hold the pipe open, and
    // the reader ends on its own when it exits.
    let (tx, rx) = mpsc::channel();
    for (which, pipe) in [
        (
            0,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
        (
            1,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            let _ = tx.send((which, bytes));
        });
    }
    drop(tx);

    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(25));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Timeout {
                    command: shown,
                    timeout,
                });
            }
            Err(source) => {
                return Err(RunError::Spawn {
                    command: shown,
                    source,
                });
            }
        }
    };

    let mut streams = [Vec::new(), Vec::new()];
    let remaining = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
    for _ in 0..2 {
        match rx.recv_timeout(remaining) {
            Ok((which, bytes)) => streams[which] = bytes,
            // The child exited but something it started keeps the pipe open:
            // what was read so far is lost, which only costs a message.
            Err(_) => break,
        }
    }
    let [stdout, stderr] = streams;
    // Without color sequences (direnv colors its errors even without a
    // terminal), so that findings stay plain one-liners.
    let plain =
        |bytes: &[u8]| console::strip_ansi_codes(&String::from_utf8_lossy(bytes)).into_owned();
    Ok(Output {
        status,
        stdout: plain(&stdout),
        stderr: plain(&stderr),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let env = HostEnv::from_vars([("PATH", "/usr/bin:/bin")]);
        let mut cmd = command(Path::new("/bin/sh"), Path::new("/"), &env);
        cmd.args(["-c", script]);
        cmd
    }

    #[test]
    fn captures_both_streams_and_status() {
        let out = run(sh("echo out; echo err >&2; exit 3"), PROBE_TIMEOUT).unwrap();
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.first_line(), "out");
        assert_eq!(out.error_line(), "err");
    }

    #[test]
    fn only_the_given_environment_is_passed() {
        let out = run(sh("echo \"[$HOME]\""), PROBE_TIMEOUT).unwrap();
        assert_eq!(out.stdout, "[]\n");
    }

    #[test]
    fn a_hung_command_times_out() {
        let start = Instant::now();
        let err = run(sh("sleep 30"), Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, RunError::Timeout { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(
            err.to_string(),
            "`sh -c 'sleep 30'` did not finish within 200ms"
        );
    }

    #[test]
    fn colors_and_links_are_stripped() {
        let out = run(
            sh("printf '\\033[31mdirenv: error\\033[0m ok\\n' >&2"),
            PROBE_TIMEOUT,
        )
        .unwrap();
        assert_eq!(out.stderr, "direnv: error ok\n");
        // A hyperlink (OSC 8) keeps its text, not its address.
        let link = "\x1b]8;;https://docs.astral.sh\x1b\\uv docs\x1b]8;;\x1b\\ here";
        assert_eq!(console::strip_ansi_codes(link), "uv docs here");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let env = HostEnv::default();
        let cmd = command(Path::new("/nonexistent/tool"), Path::new("/"), &env);
        assert!(matches!(
            run(cmd, PROBE_TIMEOUT),
            Err(RunError::Spawn { .. })
        ));
    }
}
