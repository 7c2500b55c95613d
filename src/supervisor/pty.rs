//! The pseudo-terminal a foreground program runs in, and the terminal modes
//! of devrig's own stdin, through rustix (the calls are few and POSIX, and
//! rustix makes them without `unsafe`).

use rustix::fs::{Mode, OFlags};
use rustix::process::Pid;
use rustix::pty::OpenptFlags;
use rustix::termios::{self, OptionalActions, Termios, Winsize};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Both ends of a new pseudo-terminal.
pub struct Pty {
    /// devrig's end: what the program writes is read here, and input is written here.
    pub master: OwnedFd,
    /// The program's end: its stdin, stdout, stderr and controlling terminal.
    pub slave: OwnedFd,
}

/// The master end, close-on-exec from the start where `posix_openpt` takes
/// `O_CLOEXEC`.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd"
))]
fn open_master() -> io::Result<OwnedFd> {
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    Ok(rustix::pty::openpt(flags)?)
}

/// The master end; elsewhere (macOS) `posix_openpt` has no `O_CLOEXEC`, so
/// it is set right after.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd"
)))]
fn open_master() -> io::Result<OwnedFd> {
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY)?;
    rustix::io::fcntl_setfd(&master, rustix::io::FdFlags::CLOEXEC)?;
    Ok(master)
}

/// Opens a pseudo-terminal of `size` (the kernel's default when `None`), as
/// `openpty` does. Neither end may leak into the program (or anything else
/// devrig starts): a stray copy of the master would keep the terminal alive
/// after exit, so both are close-on-exec. Neither becomes devrig's
/// controlling terminal.
pub fn open(size: Option<Winsize>) -> io::Result<Pty> {
    let master = open_master()?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    if let Some(size) = size {
        termios::tcsetwinsize(&slave, size)?;
    }
    Ok(Pty { master, slave })
}

pub fn is_tty(fd: impl AsFd) -> bool {
    termios::isatty(fd)
}

/// The window size of the terminal on `fd`, if it is one (and reports a size).
pub fn window_size(fd: impl AsFd) -> Option<Winsize> {
    termios::tcgetwinsize(fd)
        .ok()
        .filter(|size| size.ws_row > 0 && size.ws_col > 0)
}

/// Resizes the pseudo-terminal; the kernel then sends SIGWINCH to the
/// program's foreground process group, as a real terminal would.
pub fn set_window_size(fd: impl AsFd, size: Winsize) -> io::Result<()> {
    Ok(termios::tcsetwinsize(fd, size)?)
}

/// The foreground process group of the terminal whose master is `fd`: who
/// a Ctrl-C typed at it would reach. `None` when it has none.
pub fn foreground_group(fd: impl AsFd) -> Option<Pid> {
    termios::tcgetpgrp(fd).ok()
}

/// devrig's terminal in raw mode: keys (Ctrl-C included) go to the program's
/// terminal byte for byte, which turns them into signals and echo itself.
/// The previous mode comes back when this is dropped.
pub struct RawMode<'fd> {
    fd: BorrowedFd<'fd>,
    saved: Termios,
}

impl<'fd> RawMode<'fd> {
    /// Raw mode on `fd` (devrig's stdin) when it is a terminal; `None`
    /// (nothing changed) otherwise.
    pub fn enable(fd: BorrowedFd<'fd>) -> io::Result<Option<RawMode<'fd>>> {
        if !is_tty(fd) {
            return Ok(None);
        }
        let saved = termios::tcgetattr(fd)?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(fd, OptionalActions::Flush, &raw)?;
        Ok(Some(RawMode { fd, saved }))
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, OptionalActions::Flush, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_a_terminal_of_the_given_size() {
        let size = Winsize {
            ws_row: 33,
            ws_col: 101,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = open(Some(size)).unwrap();
        assert!(is_tty(&pty.slave));
        let got = window_size(&pty.master).unwrap();
        assert_eq!((got.ws_row, got.ws_col), (33, 101));
        for end in [&pty.master, &pty.slave] {
            let flags = rustix::io::fcntl_getfd(end).unwrap();
            assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
        }
        // Nobody runs in it yet.
        assert_eq!(foreground_group(&pty.master), None);
    }

    #[test]
    fn raw_mode_is_undone_on_drop() {
        let pty = open(None).unwrap();
        let slave = &pty.slave;
        let before = termios::tcgetattr(slave).unwrap();
        let raw = RawMode::enable(slave.as_fd()).unwrap().expect("a terminal");
        let during = termios::tcgetattr(slave).unwrap();
        assert!(!during.local_modes.contains(termios::LocalModes::ICANON));
        drop(raw);
        let after = termios::tcgetattr(slave).unwrap();
        assert_eq!(after.local_modes, before.local_modes);
        assert_eq!(after.input_modes, before.input_modes);
        assert_eq!(after.output_modes, before.output_modes);
    }
}
