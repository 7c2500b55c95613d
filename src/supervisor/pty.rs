//! The pseudo-terminal a foreground program runs in, and the terminal modes
//! of devrig's own stdin, through libc (the calls are few and POSIX).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Both ends of a new pseudo-terminal.
pub struct Pty {
    /// devrig's end: what the program writes is read here, and input is written here.
    pub master: OwnedFd,
    /// The program's end: its stdin, stdout, stderr and controlling terminal.
    pub slave: OwnedFd,
}

/// Opens a pseudo-terminal of `size` (the kernel's default when `None`).
pub fn open(size: Option<libc::winsize>) -> io::Result<Pty> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    let winp = size
        .as_ref()
        .map_or(std::ptr::null(), |w| w as *const libc::winsize);
    // SAFETY: the out-pointers are valid for the call; name and termios may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            winp as _,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openpty succeeded, so both descriptors are open and ours alone.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    // Neither end may leak into the program (or anything else devrig starts):
    // a stray copy of the master would keep the terminal alive after exit.
    set_cloexec(master.as_raw_fd())?;
    set_cloexec(slave.as_raw_fd())?;
    Ok(Pty { master, slave })
}

fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own; no pointers involved.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags == -1 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// The window size of the terminal on `fd`, if it is one.
pub fn window_size(fd: RawFd) -> Option<libc::winsize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the valid pointer.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_row > 0 && size.ws_col > 0).then_some(size)
}

/// Resizes the pseudo-terminal; the kernel then sends SIGWINCH to the
/// program's foreground process group, as a real terminal would.
pub fn set_window_size(fd: RawFd, size: &libc::winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads one winsize from the valid pointer.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, size) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The foreground process group of the terminal whose master is `fd`: who
/// a Ctrl-C typed at it would reach.
pub fn foreground_group(fd: RawFd) -> Option<libc::pid_t> {
    // SAFETY: tcgetpgrp only inspects the descriptor.
    let pgrp = unsafe { libc::tcgetpgrp(fd) };
    (pgrp > 0).then_some(pgrp)
}

/// devrig's terminal in raw mode: keys (Ctrl-C included) go to the program's
/// terminal byte for byte, which turns them into signals and echo itself.
/// The previous mode comes back when this is dropped.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Raw mode on `fd` when it is a terminal; `None` (nothing changed) otherwise.
    pub fn enable(fd: RawFd) -> io::Result<Option<RawMode>> {
        if !is_tty(fd) {
            return Ok(None);
        }
        // SAFETY: termios is plain data; tcgetattr fills it in.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } == -1 {
            return Err(io::Error::last_os_error());
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw and tcsetattr only touch the struct and the descriptor.
        unsafe { libc::cfmakeraw(&mut raw) };
        if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &raw) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(Some(RawMode { fd, saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in `enable` on the same descriptor.
        unsafe { libc::tcsetattr(self.fd, libc::TCSAFLUSH, &self.saved) };
    }
}
