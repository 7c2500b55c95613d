//! Programs on the host. Two ways to run one: in the foreground in a
//! pseudo-terminal (`serve`, `foreground`), or supervised in the background
//! by a detached devrig process per repo (`up`), which `status`, `logs`,
//! `down` and `foreground` reach through a control socket.
//!
//! Pieces: [`paths`] says where sockets and logs live, [`protocol`] what
//! travels on the socket, [`client`] is the CLI's side of it, [`daemon`] the
//! supervisor itself, [`guardian`] the process that stops the programs when
//! the supervisor dies without doing it, [`forwards`] the port forwards to
//! a remote engine, [`logfile`] the rotated logs, [`say`] the
//! supervisor's own log lines,
//! [`group`] signals to whole process groups, [`pty`] the terminal a
//! foreground program runs in. What they need from the OS beyond POSIX
//! (process trees, `prctl`) comes from [`crate::sys`].

pub mod client;
pub mod daemon;
mod foreground;
pub mod forwards;
pub mod group;
pub mod guardian;
pub mod logfile;
pub mod machine;
pub mod paths;
pub mod protocol;
pub mod pty;
pub mod say;

pub use foreground::{Foreground, SupervisorError, run_foreground};
