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

use crate::supervisor::say::say;
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
    clear_stale(&own, project);
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

/// A supervisor of `project` killed together with its guardian left its
/// cgroup behind, and maybe a daemon in it (the kernel's parent-death
/// signal reaches program leaders only): what is left is killed, and the
/// cgroups removed. Another repo's such cgroups are removed when empty
/// (what has a process in it is for that repo's next supervisor). Only
/// cgroups of supervisors no longer running: one of another runtime
/// directory may share the project's name.
fn clear_stale(own: &Cgroup, project: &str) {
    let ours = format!("devrig-{project}-");
    for entry in std::fs::read_dir(own.dir()).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| n.starts_with("devrig-")) else {
            continue;
        };
        let Some(pid) = name
            .rsplit_once('-')
            .and_then(|(_, pid)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if u32::try_from(pid).ok() == Some(std::process::id()) || crate::sys::running(pid) {
            continue;
        }
        let stale = Cgroup::at(entry.path());
        let mine = name
            .strip_prefix(&ours)
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()));
        if !mine {
            if !stale.is_populated() {
                let _ = stale.remove_tree();
            }
            continue;
        }
        let _ = stale.kill();
        // Killed processes leave their cgroup once they are reaped.
        for _ in 0..100 {
            if !stale.is_populated() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        match stale.remove_tree() {
            Ok(()) => say(&format!(
                "removed {}, left by supervisor {pid}, which is gone",
                stale.dir().display()
            )),
            Err(e) => say(&format!(
                "cannot remove {}, left by supervisor {pid}: {e}",
                stale.dir().display()
            )),
        };
    }
}
