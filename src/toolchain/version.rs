//! Versions as tools print them and requirements as projects write them.
//!
//! One small grammar covers every place a requirement comes from: a bare or
//! partial version (`22`, `3.13`, `9.15.0`, `v22.11.0`), an x-range (`10.x`,
//! `22.*`), and npm's semver ranges as `engines.node` uses them (`>=22`,
//! `^22.11.0`, `~3.13`, `>=18 <23`, `20 || 22`, `18 - 22`). A bare version
//! matches on the parts it gives, so `22` is any 22.x and `9.15.0` is exactly
//! that release. Pre-release and build tags are ignored: a checker only needs
//! to know whether the installed release line is the required one.

use std::fmt;

/// A release, `major.minor.patch` (missing parts are zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// The first number.
    pub major: u64,
    /// The second number.
    pub minor: u64,
    /// The third number.
    pub patch: u64,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Version {
    /// A full or partial version (`v20.20.2`, `3.13`, `22`); missing parts
    /// are zero. `None` for anything else.
    pub fn parse(text: &str) -> Option<Version> {
        let parts = partial(text)?;
        Some(Version::from_parts(&parts))
    }

    fn from_parts(parts: &[u64]) -> Version {
        Version {
            major: parts.first().copied().unwrap_or(0),
            minor: parts.get(1).copied().unwrap_or(0),
            patch: parts.get(2).copied().unwrap_or(0),
        }
    }

    /// The first version in free text, such as `Python 3.11.7` or
    /// `pnpm 9.15.0`: the first word that parses, with a leading `v` allowed.
    pub fn find_in(text: &str) -> Option<Version> {
        text.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
            .find_map(|word| {
                let parts = partial(word)?;
                // A lone number ("3 packages") is not a version.
                (parts.len() >= 2).then(|| Version::from_parts(&parts))
            })
    }
}

/// `v22.11.0-rc.1+build` → [22, 11, 0]: at most three numeric parts, a
/// leading `v` and any pre-release/build suffix dropped.
fn partial(text: &str) -> Option<Vec<u64>> {
    let text = text.trim();
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let core = text.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if core.is_empty() || parts.len() > 3 {
        return None;
    }
    parts
        .iter()
        .map(|p| {
            if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) {
                p.parse().ok()
            } else {
                None
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Comparator {
    op: Op,
    version: Version,
}

impl Comparator {
    fn matches(&self, v: &Version) -> bool {
        match self.op {
            Op::Eq => v == &self.version,
            Op::Ge => v >= &self.version,
            Op::Gt => v > &self.version,
            Op::Le => v <= &self.version,
            Op::Lt => v < &self.version,
        }
    }
}

/// A version requirement, keeping the text it was written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionReq {
    text: String,
    /// Alternatives (`||`), each a conjunction of comparators; an empty
    /// conjunction matches everything (`*`).
    any_of: Vec<Vec<Comparator>>,
}

impl fmt::Display for VersionReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for VersionReq {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// A requirement that is neither a version nor a range this grammar reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a version or version range")]
pub struct BadVersionReq {
    /// The text as written.
    pub text: String,
}

impl VersionReq {
    /// Reads a version or a range (see the module documentation).
    pub fn parse(text: &str) -> Result<VersionReq, BadVersionReq> {
        let bad = || BadVersionReq {
            text: text.to_owned(),
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(bad());
        }
        let mut any_of = Vec::new();
        for alternative in trimmed.split("||") {
            any_of.push(conjunction(alternative.trim()).ok_or_else(bad)?);
        }
        Ok(VersionReq {
            text: trimmed.to_owned(),
            any_of,
        })
    }

    /// The one release a full bare version names (`26.11.1`, `v26.11.1`):
    /// an exact pin. `None` for a partial version (`22`, `3.12`) or a
    /// range, which allow several releases.
    pub fn exact(&self) -> Option<Version> {
        match partial(&self.text) {
            Some(parts) if parts.len() == 3 => Some(Version::from_parts(&parts)),
            _ => None,
        }
    }

    /// Whether `v` meets the requirement.
    pub fn matches(&self, v: &Version) -> bool {
        self.any_of
            .iter()
            .any(|all| all.iter().all(|c| c.matches(v)))
    }

    /// The single release line a bare requirement names (`3.13` for `3.13`
    /// or `3.13.1`), for fixes such as `python3.13 -m venv`; `None` for a
    /// range.
    pub fn bare(&self) -> Option<&str> {
        partial(&self.text).map(|_| self.text.trim_start_matches(['v', 'V']))
    }

    /// The requirement as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// One alternative: space-separated comparators or a hyphen range.
fn conjunction(text: &str) -> Option<Vec<Comparator>> {
    if text.is_empty() {
        return None;
    }
    if let Some((low, high)) = text.split_once(" - ") {
        let mut out = x_range(Op::Ge, low.trim())?;
        out.extend(x_range(Op::Le, high.trim())?);
        return Some(out);
    }
    // `>= 22` is written with a space in the wild; glue operators to their
    // version before splitting.
    let mut words: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match words.last_mut() {
            Some(last) if matches!(last.as_str(), ">" | ">=" | "<" | "<=" | "=" | "^" | "~") => {
                last.push_str(word)
            }
            _ => words.push(word.to_owned()),
        }
    }
    let mut out = Vec::new();
    for word in &words {
        out.extend(comparator(word)?);
    }
    Some(out)
}

fn comparator(word: &str) -> Option<Vec<Comparator>> {
    for (prefix, op) in [
        (">=", Op::Ge),
        ("<=", Op::Le),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
    ] {
        if let Some(rest) = word.strip_prefix(prefix) {
            if rest.is_empty() {
                return None;
            }
            return x_range(op, rest);
        }
    }
    if let Some(rest) = word.strip_prefix('^') {
        return caret(rest);
    }
    if let Some(rest) = word.strip_prefix('~') {
        let rest = rest.strip_prefix('>').unwrap_or(rest);
        return tilde(rest);
    }
    x_range(Op::Eq, word)
}

/// The numeric parts before the first wildcard (`22.x` → [22]; `*` → []).
fn x_parts(text: &str) -> Option<Vec<u64>> {
    let text = text.trim();
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    if matches!(text, "*" | "x" | "X" | "") {
        return Some(Vec::new());
    }
    let core = text.split(['-', '+']).next().unwrap_or("");
    let mut parts = Vec::new();
    for (i, p) in core.split('.').enumerate() {
        if i >= 3 {
            return None;
        }
        if matches!(p, "x" | "X" | "*") {
            return Some(parts);
        }
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        parts.push(p.parse().ok()?);
    }
    Some(parts)
}

/// The smallest version above every version that starts with `parts`
/// (`22` → 23.0.0, `22.11` → 22.12.0).
fn next_after(parts: &[u64]) -> Version {
    let mut bumped = parts.to_vec();
    if let Some(last) = bumped.last_mut() {
        *last += 1;
    }
    Version::from_parts(&bumped)
}

fn x_range(op: Op, text: &str) -> Option<Vec<Comparator>> {
    let parts = x_parts(text)?;
    let c = |op, version| Comparator { op, version };
    if parts.is_empty() {
        return Some(match op {
            // `<*` and `>*` match nothing; written only by mistake.
            Op::Lt | Op::Gt => vec![c(Op::Lt, Version::from_parts(&[]))],
            _ => Vec::new(),
        });
    }
    let low = Version::from_parts(&parts);
    let complete = parts.len() == 3;
    Some(match op {
        Op::Eq if complete => vec![c(Op::Eq, low)],
        Op::Eq => vec![c(Op::Ge, low), c(Op::Lt, next_after(&parts))],
        Op::Ge => vec![c(Op::Ge, low)],
        Op::Lt => vec![c(Op::Lt, low)],
        Op::Gt if complete => vec![c(Op::Gt, low)],
        Op::Gt => vec![c(Op::Ge, next_after(&parts))],
        Op::Le if complete => vec![c(Op::Le, low)],
        Op::Le => vec![c(Op::Lt, next_after(&parts))],
    })
}

/// `^1.2.3` → <2.0.0; `^0.2.3` → <0.3.0; `^0.0.3` → <0.0.4: the first
/// non-zero part given may not change.
fn caret(text: &str) -> Option<Vec<Comparator>> {
    let parts = x_parts(text)?;
    if parts.is_empty() {
        return Some(Vec::new());
    }
    let fixed = parts
        .iter()
        .position(|&p| p != 0)
        .map_or(parts.len(), |i| i + 1);
    Some(vec![
        Comparator {
            op: Op::Ge,
            version: Version::from_parts(&parts),
        },
        Comparator {
            op: Op::Lt,
            version: next_after(&parts[..fixed.min(parts.len())]),
        },
    ])
}

/// `~1.2.3` and `~1.2` → <1.3.0; `~1` → <2.0.0.
fn tilde(text: &str) -> Option<Vec<Comparator>> {
    let parts = x_parts(text)?;
    if parts.is_empty() {
        return Some(Vec::new());
    }
    Some(vec![
        Comparator {
            op: Op::Ge,
            version: Version::from_parts(&parts),
        },
        Comparator {
            op: Op::Lt,
            version: next_after(&parts[..parts.len().min(2)]),
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn ok(req: &str, version: &str) -> bool {
        VersionReq::parse(req).unwrap().matches(&v(version))
    }

    #[test]
    fn versions_parse_as_tools_print_them() {
        assert_eq!(v("v20.20.2"), v("20.20.2"));
        assert_eq!(v("3.13"), v("3.13.0"));
        assert_eq!(v("10.0.0-rc.1"), v("10.0.0"));
        assert_eq!(Version::parse("3.x"), None);
        assert_eq!(Version::parse("lts/iron"), None);
        assert_eq!(Version::parse("1.2.3.4"), None);
        assert_eq!(Version::find_in("Python 3.11.7\n"), Some(v("3.11.7")));
        assert_eq!(Version::find_in("direnv 2.32.1"), Some(v("2.32.1")));
        assert_eq!(Version::find_in("9"), None);
    }

    #[test]
    fn bare_versions_match_on_the_parts_given() {
        assert!(ok("22", "22.11.0"));
        assert!(!ok("22", "20.20.2"));
        assert!(!ok("22", "23.0.0"));
        assert!(ok("3.13", "3.13.1"));
        assert!(!ok("3.13", "3.12.9"));
        assert!(ok("9.15.0", "9.15.0"));
        assert!(!ok("9.15.0", "9.15.1"));
        assert!(ok("v22.11.0", "22.11.0"));
    }

    #[test]
    fn x_ranges() {
        assert!(ok("10.x", "10.4.1"));
        assert!(!ok("10.x", "9.15.0"));
        assert!(ok("22.*", "22.0.0"));
        assert!(ok("*", "1.0.0"));
        assert!(ok("3.13.x", "3.13.4"));
    }

    #[test]
    fn npm_ranges() {
        assert!(ok(">=22", "22.0.0"));
        assert!(ok(">= 22", "24.1.0"));
        assert!(!ok(">=22", "20.20.2"));
        assert!(ok(">20", "21.0.0"));
        assert!(!ok(">20", "20.9.0"));
        assert!(ok("<=20", "20.9.0"));
        assert!(!ok("<=20", "21.0.0"));
        assert!(ok(">=18 <23", "22.1.0"));
        assert!(!ok(">=18 <23", "23.0.0"));
        assert!(ok("20 || 22", "22.3.0"));
        assert!(!ok("20 || 22", "21.3.0"));
        assert!(ok("18 - 22", "22.9.0"));
        assert!(!ok("18 - 22", "23.0.0"));
        assert!(ok("^22.11.0", "22.12.0"));
        assert!(!ok("^22.11.0", "22.10.0"));
        assert!(!ok("^22.11.0", "23.0.0"));
        assert!(ok("^0.2.3", "0.2.9"));
        assert!(!ok("^0.2.3", "0.3.0"));
        assert!(ok("~3.13", "3.13.7"));
        assert!(!ok("~3.13", "3.14.0"));
        assert!(ok("~1", "1.9.0"));
        assert!(ok("~>1.2", "1.2.5"));
    }

    #[test]
    fn nonsense_is_rejected() {
        for text in ["", "lts/*", "node", "abc", ">=", "1.2.3.4", "22 ||"] {
            assert!(VersionReq::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn only_full_bare_versions_are_exact() {
        let exact = |t: &str| VersionReq::parse(t).unwrap().exact();
        assert_eq!(exact("26.11.1"), Some(v("26.11.1")));
        assert_eq!(exact("v22.11.0"), Some(v("22.11.0")));
        assert_eq!(exact("3.12.6"), Some(v("3.12.6")));
        for range in ["22", "22.x", ">=22", "^22.1", "3.12", "22.11.*"] {
            assert_eq!(exact(range), None, "{range}");
        }
        assert!(ok("26.11.1", "26.11.1"));
        assert!(!ok("26.11.1", "26.11.2"));
        assert_eq!(VersionReq::parse("3.12.6").unwrap().bare(), Some("3.12.6"));
    }
}
