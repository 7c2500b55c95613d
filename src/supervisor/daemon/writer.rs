//! The supervisor's writes to files and pipes, off the loop's thread: a
//! program's output and devrig's notes to its rotated log, and the
//! guardian's lines. The loop (and the output copiers on its thread) only
//! send messages, which never block; one writer thread does the writing,
//! in the order the messages were sent, so a program's last words come
//! before the note of its exit.
//!
//! A log that cannot be written (a full disk, a removed directory) never
//! stops a program, nor this thread: its output is held, the newest
//! [`HELD_MAX`] bytes of it, the rest dropped and counted; the log is
//! marked failing ([`LogHealth`], which `status` shows) and said so in the
//! supervisor's own log; it is tried again every [`RETRY`], and once it
//! takes writes again, a note says what was dropped, then the held output
//! follows. The supervisor's own lines about it are held the same way,
//! since its log is most likely on the same disk.
//!
//! The guardian's pipe is held here: when the supervisor dies (or this
//! thread ends at shutdown) it closes, which is the guardian's cue.

use crate::supervisor::guardian;
use crate::supervisor::logfile::{self, RotatingLog};
use crate::supervisor::protocol::LogError;
use crate::supervisor::say;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime};

/// How much of a failing log's output is held for when it works again.
pub const HELD_MAX: usize = 64 * 1024;
/// How often a failing log is tried again.
pub const RETRY: Duration = Duration::from_secs(1);
/// How many of the supervisor's own lines are held while its log fails.
const SAID_MAX: usize = 64;

enum Message {
    /// A program's log: opened here, and opened again while it cannot be.
    Open {
        program: String,
        path: PathBuf,
        max_bytes: u64,
        backups: u32,
    },
    Output {
        program: String,
        bytes: Vec<u8>,
    },
    Note {
        program: String,
        text: String,
        at: SystemTime,
    },
    Guardian(guardian::Line),
}

/// Which programs' logs are failing now, and how; read by `status`.
#[derive(Clone, Default)]
pub struct LogHealth(Arc<Mutex<HashMap<String, LogError>>>);

impl LogHealth {
    /// How `program`'s log is failing, if it is.
    pub fn of(&self, program: &str) -> Option<LogError> {
        self.0.lock().ok()?.get(program).cloned()
    }

    fn set(&self, program: &str, error: Option<LogError>) {
        // A poisoned lock only means a panic elsewhere; the map is whole.
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match error {
            Some(error) => map.insert(program.to_owned(), error),
            None => map.remove(program),
        };
    }
}

/// The sending side; clone it for each output copier.
#[derive(Clone)]
pub struct Writer {
    messages: mpsc::Sender<Message>,
}

/// The writer thread; joining it waits until everything sent is written.
pub struct Thread {
    handle: std::thread::JoinHandle<()>,
}

impl Thread {
    pub fn join(self) {
        let _ = self.handle.join();
    }
}

/// Starts the writer thread, which owns `guard` (the guardian's pipe) and
/// keeps `health` up to date.
pub fn start(guard: std::io::PipeWriter, health: LogHealth) -> std::io::Result<(Writer, Thread)> {
    let (messages, inbox) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("devrig-writer".to_owned())
        .spawn(move || write_all(&inbox, guard, &health))?;
    Ok((Writer { messages }, Thread { handle }))
}

impl Writer {
    pub fn open(&self, program: &str, path: PathBuf, max_bytes: u64, backups: u32) {
        self.send(Message::Open {
            program: program.to_owned(),
            path,
            max_bytes,
            backups,
        });
    }

    pub fn output(&self, program: &str, bytes: Vec<u8>) {
        self.send(Message::Output {
            program: program.to_owned(),
            bytes,
        });
    }

    /// A line from devrig itself in the program's log, stamped now (not
    /// when it is written, which may be later).
    pub fn note(&self, program: &str, text: String) {
        self.send(Message::Note {
            program: program.to_owned(),
            text,
            at: SystemTime::now(),
        });
    }

    pub fn guardian(&self, line: guardian::Line) {
        self.send(Message::Guardian(line));
    }

    fn send(&self, message: Message) {
        // The thread ends only once every sender is gone.
        let _ = self.messages.send(message);
    }
}

fn write_all(inbox: &mpsc::Receiver<Message>, mut guard: std::io::PipeWriter, health: &LogHealth) {
    let mut logs: HashMap<String, Sink> = HashMap::new();
    let mut said = Said::default();
    let mut next_retry: Option<Instant> = None;
    loop {
        let message = match next_retry {
            None => inbox.recv().ok(),
            Some(at) => match inbox.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(message) => Some(message),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => None,
            },
        };
        let closed = message.is_none() && next_retry.is_none_or(|at| at > Instant::now());
        if closed {
            // Every sender is gone (the supervisor exits): one last try
            // for what is held, then what could not be written is lost.
            for (program, sink) in &mut logs {
                sink.retry();
                sink.report(program, health, &mut said);
            }
            said.retry();
            break;
        }
        match message {
            Some(Message::Open {
                program,
                path,
                max_bytes,
                backups,
            }) => {
                let mut sink = Sink::new(path, max_bytes, backups);
                sink.open();
                sink.report(&program, health, &mut said);
                logs.insert(program, sink);
            }
            Some(Message::Output { program, bytes }) => {
                if let Some(sink) = logs.get_mut(&program) {
                    sink.push(&bytes);
                    sink.report(&program, health, &mut said);
                }
            }
            Some(Message::Note { program, text, at }) => {
                if let Some(sink) = logs.get_mut(&program) {
                    sink.push(logfile::note_line(&text, at).as_bytes());
                    sink.report(&program, health, &mut said);
                }
            }
            Some(Message::Guardian(line)) => {
                if let Err(e) = line.send(&mut guard) {
                    said.say(format!("cannot reach the guardian: {e}"));
                }
            }
            None => {}
        }
        let now = Instant::now();
        if next_retry.is_some_and(|at| at <= now) {
            for (program, sink) in &mut logs {
                sink.retry();
                sink.report(program, health, &mut said);
            }
            said.retry();
            next_retry = None;
        }
        let failing = logs.values().any(|s| s.trouble.is_some()) || !said.held.is_empty();
        if failing && next_retry.is_none() {
            next_retry = Some(now + RETRY);
        } else if !failing {
            next_retry = None;
        }
    }
}

/// One program's log, and what is held for it while it fails.
struct Sink {
    path: PathBuf,
    max_bytes: u64,
    backups: u32,
    /// Not yet opened (the first try failed).
    log: Option<RotatingLog>,
    trouble: Option<Trouble>,
    /// What [`Sink::report`] last said, so each change is said once.
    reported: Reported,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reported {
    Fine,
    Failing,
}

/// Since when a log fails, why, and the output waiting for it.
struct Trouble {
    since: SystemTime,
    began: Instant,
    error: std::io::Error,
    held: VecDeque<u8>,
    /// Dropped and not yet noted in the log.
    dropped: u64,
    /// Dropped since it began failing.
    total_dropped: u64,
    /// It takes writes again, after failing this long: the supervisor's
    /// log is still to be told.
    recovered: Option<Duration>,
}

impl Sink {
    fn new(path: PathBuf, max_bytes: u64, backups: u32) -> Sink {
        Sink {
            path,
            max_bytes,
            backups,
            log: None,
            trouble: None,
            reported: Reported::Fine,
        }
    }

    fn open(&mut self) {
        match RotatingLog::open(&self.path, self.max_bytes, self.backups) {
            Ok(log) => self.log = Some(log),
            Err(e) => self.fail(e, &[]),
        }
    }

    /// Appends `bytes`, or holds them while the log fails.
    fn push(&mut self, bytes: &[u8]) {
        // Once a retry got everything in, new output goes to the log even
        // before the recovery is reported.
        if let Some(trouble) = &mut self.trouble
            && trouble.recovered.is_none()
        {
            trouble.hold(bytes);
            return;
        }
        let Some(log) = &mut self.log else {
            return;
        };
        if let Err(e) = log.write(bytes) {
            self.fail(e.source, &bytes[e.written..]);
        }
    }

    fn fail(&mut self, error: std::io::Error, unwritten: &[u8]) {
        let mut trouble = Trouble {
            since: SystemTime::now(),
            began: Instant::now(),
            error,
            held: VecDeque::new(),
            dropped: 0,
            total_dropped: 0,
            recovered: None,
        };
        trouble.hold(unwritten);
        self.trouble = Some(trouble);
    }

    /// Tries the log again: opens it if it never was, writes a note of what
    /// was dropped, then what was held. Still failing, the trouble stays
    /// (with the newest error), and nothing is written twice.
    fn retry(&mut self) {
        let Some(trouble) = &mut self.trouble else {
            return;
        };
        if self.log.is_none() {
            match RotatingLog::open(&self.path, self.max_bytes, self.backups) {
                Ok(log) => self.log = Some(log),
                Err(e) => {
                    trouble.error = e;
                    return;
                }
            }
        }
        let Some(log) = &mut self.log else {
            return;
        };
        if trouble.dropped > 0 {
            let note = logfile::note_line(
                &format!(
                    "{} bytes of output were dropped here: this log could not be written from {} ({})",
                    trouble.dropped,
                    logfile::utc_timestamp(trouble.since),
                    trouble.error
                ),
                SystemTime::now(),
            );
            if let Err(e) = log.write(note.as_bytes()) {
                // Some of the note may be in; the rest is not worth holding.
                trouble.error = e.source;
                return;
            }
            trouble.dropped = 0;
        }
        let (front, back) = trouble.held.as_slices();
        let held = [front, back].concat();
        match log.write(&held) {
            Ok(()) => {
                trouble.held.clear();
                trouble.recovered = Some(trouble.began.elapsed());
            }
            Err(e) => {
                trouble.held.drain(..e.written);
                trouble.error = e.source;
            }
        }
    }

    /// Tells `health` and the supervisor's log when this log starts or
    /// stops failing; also keeps the shown counts current.
    fn report(&mut self, program: &str, health: &LogHealth, said: &mut Said) {
        match &self.trouble {
            Some(trouble) if trouble.recovered.is_none() => {
                health.set(program, Some(trouble.view()));
                if self.reported == Reported::Fine {
                    self.reported = Reported::Failing;
                    said.say(format!(
                        "cannot write the log of {program} ({}): {}; its program goes on, the newest {} KiB of its output are held and the rest dropped until the log can be written again (tried every {}s)",
                        self.path.display(),
                        trouble.error,
                        HELD_MAX / 1024,
                        RETRY.as_secs()
                    ));
                }
            }
            Some(trouble) => {
                let after = trouble.recovered.unwrap_or_default();
                let dropped = trouble.total_dropped;
                health.set(program, None);
                said.say(format!(
                    "the log of {program} is written again, after {:.1}s; {dropped} bytes of its output were dropped",
                    after.as_secs_f32()
                ));
                self.trouble = None;
                self.reported = Reported::Fine;
            }
            None => {}
        }
    }
}

impl Trouble {
    /// Holds `bytes`, keeping the newest [`HELD_MAX`]: the oldest go first,
    /// cut at a line's end where there is one, and are counted as dropped.
    fn hold(&mut self, bytes: &[u8]) {
        self.held.extend(bytes);
        let excess = self.held.len().saturating_sub(HELD_MAX);
        if excess == 0 {
            return;
        }
        let cut = self
            .held
            .iter()
            .skip(excess)
            .position(|b| *b == b'\n')
            .map_or(excess, |i| excess + i + 1);
        self.held.drain(..cut);
        self.dropped += cut as u64;
        self.total_dropped += cut as u64;
    }

    fn view(&self) -> LogError {
        LogError {
            error: self.error.to_string(),
            since: logfile::utc_timestamp(self.since),
            dropped_bytes: self.total_dropped,
            held_bytes: self.held.len() as u64,
        }
    }
}

/// The supervisor's own lines that its log did not take yet, stamped
/// when they were said.
#[derive(Default)]
struct Said {
    held: VecDeque<String>,
}

impl Said {
    /// Says `text` now, after what is held; held itself when the log
    /// fails (the oldest let go beyond [`SAID_MAX`]).
    fn say(&mut self, text: String) {
        let line = say::line(&text, SystemTime::now());
        self.retry();
        if !self.held.is_empty() || !say::write(&line) {
            self.held.push_back(line);
            while self.held.len() > SAID_MAX {
                self.held.pop_front();
            }
        }
    }

    fn retry(&mut self) {
        while let Some(line) = self.held.front() {
            if !say::write(line) {
                return;
            }
            self.held.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trouble() -> Trouble {
        Trouble {
            since: SystemTime::now(),
            began: Instant::now(),
            error: std::io::ErrorKind::StorageFull.into(),
            held: VecDeque::new(),
            dropped: 0,
            total_dropped: 0,
            recovered: None,
        }
    }

    #[test]
    fn holds_the_newest_output_cut_at_a_line_end_and_counts_the_rest() {
        let mut t = trouble();
        let line = |n: usize| format!("{n:09}\n");
        for n in 0..HELD_MAX / 10 {
            t.hold(line(n).as_bytes());
        }
        assert_eq!((t.dropped, t.held.len()), (0, HELD_MAX / 10 * 10));
        // Past the limit the oldest whole lines go, and are counted.
        t.hold(b"0123456789abcdefghij\n");
        let held: Vec<u8> = t.held.iter().copied().collect();
        let held = String::from_utf8(held).unwrap();
        assert!(held.len() <= HELD_MAX, "{}", held.len());
        assert!(held.starts_with(&line(2)), "{}", &held[..20]);
        assert!(held.ends_with("abcdefghij\n"));
        assert_eq!(t.dropped, 20);
        assert_eq!(t.total_dropped, 20);
        // A line longer than everything held is cut where it must be.
        t.hold(&vec![b'x'; 2 * HELD_MAX]);
        assert_eq!(t.held.len(), HELD_MAX);
        assert_eq!(t.view().held_bytes, HELD_MAX as u64);
    }

    #[test]
    fn a_log_that_cannot_be_opened_holds_its_output_until_it_can() {
        let dir = tempfile::tempdir().unwrap();
        // A file where its directory should be, so not even that can be
        // made.
        let blocker = dir.path().join("logs");
        std::fs::write(&blocker, "").unwrap();
        let path = blocker.join("app.log");
        let health = LogHealth::default();
        let mut said = Said::default();
        let mut sink = Sink::new(path.clone(), 0, 0);
        sink.open();
        sink.push(b"first\n");
        sink.push(b"second\n");
        sink.report("app", &health, &mut said);
        let failing = health.of("app").expect("failing");
        assert!(failing.error.contains("File exists"), "{failing:?}");
        assert_eq!((failing.held_bytes, failing.dropped_bytes), (13, 0));
        // Still failing: nothing is lost, nothing is written twice.
        sink.retry();
        sink.report("app", &health, &mut said);
        assert!(health.of("app").is_some());
        std::fs::remove_file(&blocker).unwrap();
        std::fs::create_dir(&blocker).unwrap();
        sink.retry();
        sink.push(b"third\n");
        sink.report("app", &health, &mut said);
        assert_eq!(health.of("app"), None);
        sink.push(b"fourth\n");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "first\nsecond\nthird\nfourth\n"
        );
    }
}
