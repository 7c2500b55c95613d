//! Exit codes, documented in the README. Errors say which one they mean
//! (`exit_code()` on each error type), so a command that fails for a given
//! reason exits the same way whichever command it was.

/// Success.
pub const OK: u8 = 0;
/// Something failed while running (a fetch, a process, a container).
pub const FAILURE: u8 = 1;
/// The command line or a config file is wrong; nothing was started.
pub const USAGE: u8 = 2;
/// The Docker engine cannot be reached.
pub const ENGINE: u8 = 3;
/// Interrupted (Ctrl-C).
pub const INTERRUPTED: u8 = 130;
