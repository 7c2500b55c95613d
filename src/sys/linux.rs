//! Linux: the process tree, socket owners and the engine's limits read from
//! `/proc`, and the two `prctl` settings (parent-death signal, child
//! subreaper) through rustix.
//! See the parent module for what each function promises.

use super::{PortHolder, Transport};
use rustix::process::Signal;
use std::io;
use std::path::{Path, PathBuf};

pub fn children_of(parent: i32) -> Vec<i32> {
    proc_stats()
        .filter(|(_, stat)| stat.ppid == parent)
        .map(|(pid, _)| pid)
        .collect()
}

pub fn running_members(pgid: i32) -> Vec<i32> {
    proc_stats()
        .filter(|(_, stat)| stat.state != 'Z' && stat.pgrp == pgid)
        .map(|(pid, _)| pid)
        .collect()
}

pub fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|text| parse_stat(&text))
        .is_some_and(|stat| stat.state != 'Z')
}

pub fn set_parent_death_signal(signal: Signal) -> io::Result<()> {
    Ok(rustix::process::set_parent_process_death_signal(Some(
        signal,
    ))?)
}

pub fn exchange(a: &std::path::Path, b: &std::path::Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    Ok(renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE)?)
}

pub fn become_child_subreaper() -> io::Result<()> {
    // Any pid turns it on; the kernel reads the argument as a flag.
    Ok(rustix::process::set_child_subreaper(Some(
        rustix::process::getpid(),
    ))?)
}

/// This process's cgroup v2 directory: its path in the unified hierarchy
/// (`0::/path` in `/proc/self/cgroup`) below where that hierarchy is
/// mounted (`cgroup2` in `/proc/self/mountinfo`; `/sys/fs/cgroup` on a
/// pure v2 host, `/sys/fs/cgroup/unified` on a hybrid one).
pub fn own_cgroup() -> io::Result<PathBuf> {
    let unsupported = |what: &str| io::Error::new(io::ErrorKind::Unsupported, what.to_owned());
    let cgroups = std::fs::read_to_string("/proc/self/cgroup")?;
    let path = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(|| unsupported("this process is in no cgroup v2 hierarchy"))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let (root, mount) = cgroup2_mount(&mountinfo)
        .ok_or_else(|| unsupported("no cgroup2 file system is mounted"))?;
    cgroup_dir(&root, &mount, path)
        .ok_or_else(|| unsupported("this process's cgroup is outside the mounted cgroup2 tree"))
}

/// The root and mount point of the first `cgroup2` mount in a mountinfo
/// table: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS…] - TYPE …`,
/// paths with octal escapes (`\040` for a space).
fn cgroup2_mount(mountinfo: &str) -> Option<(String, PathBuf)> {
    mountinfo.lines().find_map(|line| {
        let (mount, rest) = line.split_once(" - ")?;
        if rest.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mut fields = mount.split_whitespace().skip(3);
        let root = unescape(fields.next()?);
        let point = unescape(fields.next()?);
        Some((root, PathBuf::from(point)))
    })
}

/// The directory of cgroup `path` in a cgroup2 mount at `mount` that shows
/// the hierarchy from `root` down (`/` unless it is a bind mount of a
/// subtree).
fn cgroup_dir(root: &str, mount: &Path, path: &str) -> Option<PathBuf> {
    let below = if root == "/" {
        path
    } else {
        let rest = path.strip_prefix(root)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        rest
    };
    Some(mount.join(below.trim_start_matches('/')))
}

/// mountinfo's octal escapes (`\040`, `\011`, `\012`, `\134`) undone.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = bytes
                .get(i + 1..i + 4)
                .and_then(|o| std::str::from_utf8(o).ok())
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn peer_pid(stream: &std::os::unix::net::UnixStream) -> Option<i32> {
    rustix::net::sockopt::socket_peercred(stream)
        .ok()
        .map(|cred| cred.pid.as_raw_nonzero().get())
}

pub fn peer_uid(stream: &std::os::unix::net::UnixStream) -> Option<u32> {
    rustix::net::sockopt::socket_peercred(stream)
        .ok()
        .map(|cred| cred.uid.as_raw())
}

pub fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    parse_passwd(&passwd, uid)
}

/// `name:x:uid:…` lines → the name of `uid`.
fn parse_passwd(text: &str, uid: u32) -> Option<String> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let found: u32 = fields.nth(1)?.parse().ok()?;
        (found == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

pub fn engine_nofile_ceiling(socket: &Path) -> Option<u64> {
    let stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    let pid = rustix::net::sockopt::socket_peercred(&stream)
        .ok()?
        .pid
        .as_raw_nonzero();
    let proc = PathBuf::from(format!("/proc/{pid}"));
    if std::fs::read_to_string(proc.join("comm")).ok()?.trim() != "dockerd" {
        return None;
    }
    let status = std::fs::read_to_string(proc.join("status")).ok()?;
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())?;
    const CAP_SYS_RESOURCE: u32 = 24;
    if effective & (1 << CAP_SYS_RESOURCE) != 0 {
        return std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()?
            .trim()
            .parse()
            .ok();
    }
    let limits = std::fs::read_to_string(proc.join("limits")).ok()?;
    hard_open_files(&limits)
}

/// The hard limit of `Max open files` in a `/proc/PID/limits` table.
fn hard_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let _soft = fields.next()?;
    match fields.next()? {
        "unlimited" => Some(u64::MAX),
        hard => hard.parse().ok(),
    }
}

/// The socket's inode in /proc/net/{tcp,udp}[6], then the process with a
/// file descriptor that points to it.
pub fn port_holder(port: u16, transport: Transport) -> Option<PortHolder> {
    let tables: &[&str] = match transport {
        Transport::Udp => &["udp", "udp6"],
        Transport::Tcp => &["tcp", "tcp6"],
    };
    let hex_port = format!("{port:04X}");
    let mut inodes = Vec::new();
    for table in tables {
        // A kernel without IPv6 has no tcp6 table: the other one still counts.
        let Ok(text) = std::fs::read_to_string(format!("/proc/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(inode)) = (fields.get(1), fields.get(9)) else {
                continue;
            };
            if local.rsplit(':').next() == Some(hex_port.as_str()) && *inode != "0" {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if inodes.iter().any(|i| target.as_os_str() == i.as_str()) {
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                let command = String::from_utf8_lossy(&cmdline)
                    .replace('\0', " ")
                    .trim()
                    .to_owned();
                return Some(PortHolder { pid, command });
            }
        }
    }
    None
}

struct Stat {
    state: char,
    ppid: i32,
    pgrp: i32,
}

/// Every process's `/proc/PID/stat`.
fn proc_stats() -> impl Iterator<Item = (i32, Stat)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, parse_stat(&text)?))
        })
}

/// `pid (comm) state ppid pgrp …`, where comm may hold spaces and
/// parentheses: the fields start after the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let mut fields = text[text.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(Stat { state, ppid, pgrp })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_is_named_from_passwd_lines() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n# a comment\n\nbad line\nana:x:1001:1001::/home/ana:/bin/sh\n";
        assert_eq!(parse_passwd(passwd, 0).as_deref(), Some("root"));
        assert_eq!(parse_passwd(passwd, 1001).as_deref(), Some("ana"));
        assert_eq!(parse_passwd(passwd, 1002), None);
    }

    #[test]
    fn the_hard_open_files_limit_of_a_limits_table() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax processes             95428                95428                processes \nMax open files            1024                 20000                files     \n";
        assert_eq!(hard_open_files(limits), Some(20000));
        assert_eq!(
            hard_open_files(
                "Max open files            unlimited            unlimited            files\n"
            ),
            Some(u64::MAX)
        );
        assert_eq!(hard_open_files("Max processes 1 1 processes\n"), None);
    }

    #[test]
    fn finds_the_cgroup2_mount_and_this_process_directory() {
        let hybrid = "24 1 0:22 / /sys rw - sysfs sysfs rw\n41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n";
        let (root, mount) = cgroup2_mount(hybrid).unwrap();
        assert_eq!(
            (root.as_str(), mount.as_path()),
            ("/", Path::new("/sys/fs/cgroup/unified"))
        );
        assert_eq!(cgroup_dir(&root, &mount, "/"), Some(mount.clone()));
        assert_eq!(
            cgroup_dir(&root, &mount, "/user.slice/user@1000.service/app.slice"),
            Some(mount.join("user.slice/user@1000.service/app.slice"))
        );
        // A bind mount of a subtree shows paths below its root only.
        let sub = Path::new("/mnt/cg");
        assert_eq!(cgroup_dir("/a", sub, "/a/b"), Some(sub.join("b")));
        assert_eq!(cgroup_dir("/a", sub, "/a"), Some(sub.to_owned()));
        assert_eq!(cgroup_dir("/a", sub, "/ab"), None);
        assert_eq!(cgroup_dir("/a", sub, "/c"), None);
        assert!(cgroup2_mount("24 1 0:22 / /sys rw - sysfs sysfs rw\n").is_none());
        let spaced = "50 1 0:40 / /mnt/my\\040cgroups rw - cgroup2 none rw\n";
        assert_eq!(
            cgroup2_mount(spaced).unwrap().1,
            Path::new("/mnt/my cgroups")
        );
    }

    #[test]
    fn stat_fields_follow_the_last_parenthesis() {
        let stat = parse_stat("42 (a) b (c)) Z 7 42 42 0 -1").unwrap();
        assert_eq!((stat.state, stat.ppid, stat.pgrp), ('Z', 7, 42));
        assert!(parse_stat("42 (truncated").is_none());
    }
}
