//! `Test`: one run of the devrig binary, written as its scenario, in the
//! style of casey/just's tests:
//!
//! ```ignore
//! Test::new()
//!     .config(indoc! {"…"})
//!     .args(["config"])
//!     .code(2)
//!     .stderr(indoc! {"error: …"})
//!     .run();
//! ```
//!
//! The exit code expected is 0 unless `code` says otherwise. Expectations
//! on stdout and stderr see the text with the world's temp dir written
//! `[TMP]`; snapshots (`stdout_snapshot`, `stderr_snapshot`) also go through
//! the world's insta filters (durations, pids, ports, ids: see
//! `filters.rs`). `run` checks everything and returns the [`Output`], so a
//! test can go on asserting.

use super::world::World;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one devrig command may run before the test fails (instead of
/// hanging when devrig does).
const TIMEOUT: Duration = Duration::from_secs(300);

pub struct Test<'w> {
    world: Place<'w>,
    /// The name devrig is started under (`devservices`, `devenv`).
    name: Option<String>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// Where it runs; the world's repo when unset.
    cwd: Option<std::path::PathBuf>,
    stdin: Option<Vec<u8>>,
    code: Option<i32>,
    stdout: Vec<Expect>,
    stderr: Vec<Expect>,
}

/// The world a test runs in: its own, or one shared by several runs.
enum Place<'w> {
    Own(Box<World>),
    Lent(&'w World),
}

enum Expect {
    Exact(String),
    Contains(String),
    Lacks(String),
    Snapshot,
}

/// What one devrig run did; stdout and stderr with `[TMP]` for the temp dir.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Where `needle` first appears in stderr; fails the test if it does not.
    #[track_caller]
    pub fn stderr_at(&self, needle: &str) -> usize {
        self.stderr
            .find(needle)
            .unwrap_or_else(|| panic!("no `{needle}` in stderr:\n{}", self.stderr))
    }
}

impl Default for Test<'static> {
    fn default() -> Self {
        Test::new()
    }
}

impl Test<'static> {
    /// A run in a fresh world of its own.
    pub fn new() -> Test<'static> {
        Test::with_place(Place::Own(Box::default()))
    }
}

impl<'w> Test<'w> {
    /// A run in `world`, which other runs of the test share.
    pub fn in_world(world: &'w World) -> Test<'w> {
        Test::with_place(Place::Lent(world))
    }

    fn with_place(world: Place<'w>) -> Test<'w> {
        Test {
            world,
            name: None,
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: None,
            code: Some(0),
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    pub fn world(&self) -> &World {
        match &self.world {
            Place::Own(world) => world,
            Place::Lent(world) => world,
        }
    }

    /// Writes the repo's `devservices/config.yml`.
    pub fn config(self, yaml: &str) -> Self {
        self.world().config(yaml);
        self
    }

    /// Writes another file of the repo.
    pub fn file(self, rel: &str, text: &str) -> Self {
        self.world().file(rel, text);
        self
    }

    /// Starts devrig under another name (`devservices`, `devenv`).
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable on top of the world's isolated ones.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets several environment variables.
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Feeds `text` to devrig's stdin (a pipe); without it stdin is /dev/null.
    /// Runs it in `dir` instead of the world's repo.
    pub fn current_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.as_bytes().to_vec());
        self
    }

    /// The exit code expected (0 unless set).
    pub fn code(mut self, code: i32) -> Self {
        self.code = Some(code);
        self
    }

    /// Accepts any exit code (the test looks at `Output::code` itself).
    pub fn any_code(mut self) -> Self {
        self.code = None;
        self
    }

    /// stdout must be exactly `text`.
    pub fn stdout(mut self, text: &str) -> Self {
        self.stdout.push(Expect::Exact(text.to_owned()));
        self
    }

    /// stderr must be exactly `text`.
    pub fn stderr(mut self, text: &str) -> Self {
        self.stderr.push(Expect::Exact(text.to_owned()));
        self
    }

    pub fn stdout_contains(mut self, text: impl Into<String>) -> Self {
        self.stdout.push(Expect::Contains(text.into()));
        self
    }

    pub fn stderr_contains(mut self, text: impl Into<String>) -> Self {
        self.stderr.push(Expect::Contains(text.into()));
        self
    }

    pub fn stdout_lacks(mut self, text: impl Into<String>) -> Self {
        self.stdout.push(Expect::Lacks(text.into()));
        self
    }

    pub fn stderr_lacks(mut self, text: impl Into<String>) -> Self {
        self.stderr.push(Expect::Lacks(text.into()));
        self
    }

    /// stdout must match the snapshot `tests/snapshots/<binary>__<test>__stdout.snap`
    /// (`-2`, `-3`… for a test's later ones), through the world's filters.
    pub fn stdout_snapshot(mut self) -> Self {
        self.stdout.push(Expect::Snapshot);
        self
    }

    /// As [`Test::stdout_snapshot`], for stderr.
    pub fn stderr_snapshot(mut self) -> Self {
        self.stderr.push(Expect::Snapshot);
        self
    }

    /// Runs devrig and checks every expectation; a failure is reported at
    /// the test's call.
    #[track_caller]
    pub fn run(self) -> Output {
        let world = self.world();
        let mut cmd = match &self.name {
            Some(name) => world.command_as(name),
            None => world.command(),
        };
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = self.command_line();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{shown}`: {e}"));
        if let Some(input) = &self.stdin {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            pipe.write_all(input).expect("write stdin");
        }
        let (code, stdout, stderr) = finish(child, &shown);
        let root = world.root().display().to_string();
        let output = Output {
            code,
            stdout: stdout.replace(&root, "[TMP]"),
            stderr: stderr.replace(&root, "[TMP]"),
        };
        self.check(&shown, &output);
        output
    }

    /// `devrig ARGS` as a reader would type it.
    fn command_line(&self) -> String {
        let mut line = self.name.clone().unwrap_or_else(|| "devrig".to_owned());
        for arg in &self.args {
            let arg = arg.to_string_lossy();
            line.push(' ');
            if arg.is_empty() || arg.contains(char::is_whitespace) {
                line.push_str(&format!("'{arg}'"));
            } else {
                line.push_str(&arg);
            }
        }
        line
    }

    #[track_caller]
    fn check(&self, shown: &str, output: &Output) {
        let report = || {
            format!(
                "`{shown}` exited {}\n--- stdout\n{}\n--- stderr\n{}",
                output.code, output.stdout, output.stderr
            )
        };
        if let Some(code) = self.code {
            assert!(
                output.code == code,
                "expected exit code {code}: {}",
                report()
            );
        }
        for (stream, expects, text) in [
            ("stdout", &self.stdout, &output.stdout),
            ("stderr", &self.stderr, &output.stderr),
        ] {
            for expect in expects {
                match expect {
                    Expect::Exact(want) => assert!(
                        text == want,
                        "{stream} differs\n--- expected {stream}\n{want}\n{}",
                        report()
                    ),
                    Expect::Contains(want) => assert!(
                        text.contains(want.as_str()),
                        "{stream} lacks {want:?}: {}",
                        report()
                    ),
                    Expect::Lacks(unwanted) => assert!(
                        !text.contains(unwanted.as_str()),
                        "{stream} has {unwanted:?}: {}",
                        report()
                    ),
                    Expect::Snapshot => self.snapshot(shown, stream, text),
                }
            }
        }
    }

    fn snapshot(&self, shown: &str, stream: &str, text: &str) {
        let mut settings = self.world().snapshot_settings();
        settings.set_description(shown);
        settings.set_omit_expression(true);
        let name = snapshot_name(stream);
        settings.bind(|| insta::assert_snapshot!(name, text));
    }
}

/// `<binary>__<test>__<stream>`, then `-2`, `-3`… for the same test's next
/// snapshots of that stream. The test's name is its thread's, as libtest
/// names it (also with `--test-threads=1`).
fn snapshot_name(stream: &str) -> String {
    static SEEN: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);
    let thread = std::thread::current();
    let test = thread
        .name()
        .filter(|n| *n != "main")
        .expect("snapshots are taken on the test's own thread")
        .replace("::", "__");
    let base = format!("{}__{test}__{stream}", env!("CARGO_CRATE_NAME"));
    let mut seen = SEEN.lock().expect("lock");
    let count = seen
        .get_or_insert_with(HashMap::new)
        .entry(base.clone())
        .or_insert(0);
    *count += 1;
    match *count {
        1 => base,
        n => format!("{base}-{n}"),
    }
}

/// Waits for `child` (killing it after [`TIMEOUT`]: a test fails instead
/// of hanging) and collects its exit code, stdout and stderr; `shown` names
/// it in the failure. Also for the peers a differential test runs.
pub fn finish(mut child: Child, shown: &str) -> (i32, String, String) {
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = collect(child.stdout.take().map(|p| Box::new(p) as _));
    let err = collect(child.stderr.take().map(|p| Box::new(p) as _));
    let began = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if began.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            // Not joined: what devrig left running may hold the pipes open.
            panic!("`{shown}` did not exit within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    (status.code().unwrap_or(-1), stdout, stderr)
}
