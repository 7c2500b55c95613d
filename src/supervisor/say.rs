//! The supervisor's and the guardian's own lines. Neither has a terminal:
//! their stderr is the supervisor's log (`devrig/supervisor.log`), which
//! can fail like any file (a full disk). `eprintln!` panics when stderr
//! cannot be written, and a panic there would take the programs with it,
//! so every such line goes through [`say`], which never panics.

use std::io::Write;
use std::time::SystemTime;

/// Writes `[devrig 2026-11-26T09:23:49Z] text` to stderr. False when it
/// could not be written: the line is lost, and nothing else happens.
pub fn say(text: &str) -> bool {
    write(&line(text, SystemTime::now()))
}

/// The line [`say`] writes, stamped `at`; for a caller that keeps lines
/// the log did not take ([`write`] them again later).
pub fn line(text: &str, at: SystemTime) -> String {
    super::logfile::note_line(text, at)
}

/// Writes one line made by [`line`] to stderr; false when it could not be.
pub fn write(line: &str) -> bool {
    // One write of the whole line, so lines of two threads never mix; the
    // error is the caller's to weigh, never a reason to stop.
    std::io::stderr().lock().write_all(line.as_bytes()).is_ok()
}
