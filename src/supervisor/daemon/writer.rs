//! The supervisor's writes to files and pipes, off the loop's thread: a
//! program's output and devrig's notes to its rotated log, and the
//! guardian's lines. The loop (and the output copiers on its thread) only
//! send messages, which never block; one writer thread does the writing,
//! in the order the messages were sent, so a program's last words come
//! before the note of its exit.
//!
//! The guardian's pipe is held here: when the supervisor dies (or this
//! thread ends at shutdown) it closes, which is the guardian's cue.

use crate::supervisor::guardian;
use crate::supervisor::logfile::RotatingLog;
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

enum Message {
    /// A program's log, opened by the loop (so it can say when it cannot).
    Open {
        program: String,
        log: RotatingLog,
    },
    Output {
        program: String,
        bytes: Vec<u8>,
    },
    Note {
        program: String,
        text: String,
    },
    Guard {
        pgid: i32,
        signal: i32,
        grace: Duration,
    },
    Unguard {
        pgid: i32,
    },
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

/// Starts the writer thread, which owns `guard` (the guardian's pipe).
pub fn start(guard: std::io::PipeWriter) -> std::io::Result<(Writer, Thread)> {
    let (messages, inbox) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("devrig-writer".to_owned())
        .spawn(move || write_all(inbox, guard))?;
    Ok((Writer { messages }, Thread { handle }))
}

impl Writer {
    pub fn open(&self, program: &str, log: RotatingLog) {
        self.send(Message::Open {
            program: program.to_owned(),
            log,
        });
    }

    pub fn output(&self, program: &str, bytes: Vec<u8>) {
        self.send(Message::Output {
            program: program.to_owned(),
            bytes,
        });
    }

    /// A line from devrig itself in the program's log.
    pub fn note(&self, program: &str, text: String) {
        self.send(Message::Note {
            program: program.to_owned(),
            text,
        });
    }

    pub fn guard(&self, pgid: i32, signal: i32, grace: Duration) {
        self.send(Message::Guard {
            pgid,
            signal,
            grace,
        });
    }

    pub fn unguard(&self, pgid: i32) {
        self.send(Message::Unguard { pgid });
    }

    fn send(&self, message: Message) {
        // The thread ends only once every sender is gone.
        let _ = self.messages.send(message);
    }
}

fn write_all(inbox: mpsc::Receiver<Message>, mut guard: std::io::PipeWriter) {
    let mut logs: HashMap<String, RotatingLog> = HashMap::new();
    let complain = |program: &str, e: std::io::Error| {
        eprintln!("devrig supervisor: cannot write to the log of {program}: {e}");
    };
    for message in inbox {
        match message {
            Message::Open { program, log } => {
                logs.insert(program, log);
            }
            Message::Output { program, bytes } => {
                if let Some(log) = logs.get_mut(&program)
                    && let Err(e) = log.write(&bytes)
                {
                    complain(&program, e);
                }
            }
            Message::Note { program, text } => {
                if let Some(log) = logs.get_mut(&program)
                    && let Err(e) = log.note(&text)
                {
                    complain(&program, e);
                }
            }
            Message::Guard {
                pgid,
                signal,
                grace,
            } => {
                if let Err(e) = guardian::started(&mut guard, pgid, signal, grace) {
                    eprintln!("devrig supervisor: cannot reach the guardian: {e}");
                }
            }
            Message::Unguard { pgid } => {
                let _ = guardian::forgotten(&mut guard, pgid);
            }
        }
    }
}
