//! The process table, for checking what devrig started and stopped: a test
//! gives its programs a `sleep N` with an N no other process uses, and
//! looks for it in /proc.

/// A number for `sleep N` that no other test's process uses: unique in
/// this test process, and (by the pid) across test processes.
pub fn marker() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    assert!(n < 100, "100 markers per test binary");
    // Always seven digits, so one marker is never a prefix of another.
    format!("{}", 1_000_000 + (std::process::id() % 80_000) * 100 + n)
}

/// Processes (not zombies) whose command line contains `needle`.
pub fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (pid, stat) in processes() {
        let zombie = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            == Some("Z");
        let cmdline = cmdline(pid);
        if !zombie && cmdline.contains(needle) && pid != i64::from(std::process::id()) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// The processes running `sleep <marker>`.
pub fn sleeping(marker: &str) -> Vec<String> {
    processes_with(&format!("sleep {marker}"))
}

/// Processes whose parent is `parent`.
pub fn children_of(parent: i64) -> Vec<i64> {
    processes()
        .filter(|(_, stat)| {
            stat.rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
                .and_then(|p| p.parse::<i64>().ok())
                == Some(parent)
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// The guardian (`devrig __guard`) of the supervisor `supervisor`.
#[track_caller]
pub fn guardian_of(supervisor: i64) -> i64 {
    children_of(supervisor)
        .into_iter()
        .find(|pid| cmdline(*pid).contains("__guard"))
        .expect("the guardian")
}

/// A process's command line, its arguments joined by spaces.
pub fn cmdline(pid: i64) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw).replace('\0', " ")
}

/// Sends `signal` to `pid`, which must exist.
pub fn kill(pid: i64, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("a pid");
    // SAFETY: kill takes no pointers.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill {pid}");
}

/// Every live pid with its /proc/PID/stat line.
fn processes() -> impl Iterator<Item = (i64, String)> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i64>().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, stat))
        })
}
