//! How a supervisor keeps track of every process its programs start, so
//! that stopping a program (and the guardian, should the supervisor die)
//! reaches all of them.
//!
//! Where the host allows it, each program runs in a cgroup of its own,
//! below one cgroup per supervisor (`devrig-PROJECT-PID`, beside the
//! supervisor in its own cgroup): a daemon that forks, calls `setsid` and
//! forks again is still in it. Elsewhere (no cgroup2 mounted, a cgroup this
//! user may not write to, another OS) each program's process group is
//! what is tracked, with the child subreaper catching what leaves the
//! group while the supervisor lives (see [`super`]).

use crate::sys::Cgroup;
use std::io;

/// What the supervisor tracks its programs' processes with.
pub enum Tracking {
    /// Each program in a child of this cgroup, named after it.
    Cgroups(Cgroup),
    /// Process groups only, and why no cgroup.
    Groups(String),
}

impl Tracking {
    /// Makes the supervisor's cgroup when the host lets it, and checks
    /// that a process can be moved into it and back: a child entering its
    /// program's cgroup needs the same rights (write access to the
    /// `cgroup.procs` of the supervisor's own cgroup, the common ancestor).
    /// `DEVRIG_NO_CGROUPS=1` asks for process groups alone (where cgroups
    /// misbehave, and to test that fallback on a host that has them).
    pub fn set_up(project: &str) -> Tracking {
        if std::env::var_os("DEVRIG_NO_CGROUPS").is_some_and(|v| !v.is_empty() && v != "0") {
            return Tracking::Groups("DEVRIG_NO_CGROUPS is set".to_owned());
        }
        match supervisor_cgroup(project) {
            Ok(cgroup) => Tracking::Cgroups(cgroup),
            Err(e) => Tracking::Groups(e.to_string()),
        }
    }

    /// The cgroup for program `name`, made unless it exists; `None` when
    /// programs are tracked by process group.
    pub fn program_cgroup(&self, name: &str) -> io::Result<Option<Cgroup>> {
        match self {
            Tracking::Cgroups(base) => base.create_child(name).map(Some),
            Tracking::Groups(_) => Ok(None),
        }
    }

    /// One line for the supervisor's log: how programs are tracked.
    pub fn describe(&self) -> String {
        match self {
            Tracking::Cgroups(base) => format!(
                "each program runs in a cgroup of its own, below {}",
                base.dir().display()
            ),
            Tracking::Groups(why) => {
                format!("programs are tracked by process group: no cgroup for them ({why})")
            }
        }
    }
}

fn supervisor_cgroup(project: &str) -> io::Result<Cgroup> {
    let own = Cgroup::of_this_process()?;
    let name = format!("devrig-{project}-{}", std::process::id());
    let base = own.create_child(&name).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot make {}: {e}", own.dir().join(&name).display()),
        )
    })?;
    let probe = base.move_self().and_then(|()| own.move_self());
    if let Err(e) = probe {
        // Back where it was, if only the first move worked.
        let _ = own.move_self();
        let _ = base.remove();
        return Err(io::Error::new(
            e.kind(),
            format!("cannot move a process into {}: {e}", base.dir().display()),
        ));
    }
    Ok(base)
}
