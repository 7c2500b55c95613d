//! Typed reads of YAML nodes, each failing with the node's position and a
//! message that names the field and what was expected.

use super::duration::Duration;
use super::error::{ConfigError, Reporter};
use super::yaml::{Node, NodeKind, Scalar};
use indexmap::IndexMap;

pub type Result<T> = std::result::Result<T, ConfigError>;

/// A mapping's entries with string keys; `what` names the field for errors.
pub fn map<'n>(r: &Reporter, node: &'n Node, what: &str) -> Result<Vec<(&'n Node, &'n Node)>> {
    let entries = node.as_map().ok_or_else(|| {
        r.error(
            node,
            format!("{what} must be a mapping, found {}", node.kind_name()),
        )
    })?;
    entries
        .iter()
        .map(|(k, v)| match k.scalar_text() {
            Some(_) => Ok((k, v)),
            None => Err(r.error(k, format!("keys of {what} must be strings"))),
        })
        .collect()
}

pub fn key(node: &Node) -> &str {
    node.scalar_text().unwrap_or_default()
}

pub fn seq<'n>(r: &Reporter, node: &'n Node, what: &str) -> Result<&'n [Node]> {
    node.as_seq().ok_or_else(|| {
        r.error(
            node,
            format!("{what} must be a list, found {}", node.kind_name()),
        )
    })
}

/// Any non-null scalar as text: compose accepts `user: 1000` as well as `"1000"`.
pub fn string(r: &Reporter, node: &Node, what: &str) -> Result<String> {
    match node.scalar() {
        Some(Scalar::Null) | None => Err(r.error(
            node,
            format!("{what} must be a string, found {}", node.kind_name()),
        )),
        Some(_) => Ok(node.scalar_text().unwrap_or_default().to_owned()),
    }
}

pub fn opt_string(r: &Reporter, node: &Node, what: &str) -> Result<Option<String>> {
    if node.is_null() {
        return Ok(None);
    }
    string(r, node, what).map(Some)
}

/// A boolean; after interpolation `"true"`/`"false"` arrive as strings, and
/// compose accepts them the way Go's `strconv.ParseBool` does.
pub fn boolean(r: &Reporter, node: &Node, what: &str) -> Result<bool> {
    match node.scalar() {
        Some(Scalar::Bool(b)) => Ok(b),
        Some(Scalar::Str(s)) => match s {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            _ => Err(r.error(node, format!("{what} must be true or false, found `{s}`"))),
        },
        Some(Scalar::Int(1)) => Ok(true),
        Some(Scalar::Int(0)) => Ok(false),
        _ => Err(r.error(
            node,
            format!("{what} must be true or false, found {}", node.kind_name()),
        )),
    }
}

/// A non-negative integer, also from an interpolated string such as `"${RETRIES}"`.
pub fn unsigned(r: &Reporter, node: &Node, what: &str) -> Result<u64> {
    let bad = || {
        r.error(
            node,
            format!(
                "{what} must be a non-negative integer, found `{}`",
                node.scalar_text().unwrap_or(node.kind_name())
            ),
        )
    };
    match node.scalar() {
        Some(Scalar::Int(i)) => u64::try_from(i).map_err(|_| bad()),
        Some(Scalar::Str(s)) => s.trim().parse().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

pub fn integer(r: &Reporter, node: &Node, what: &str) -> Result<i64> {
    let bad = || {
        r.error(
            node,
            format!(
                "{what} must be an integer, found `{}`",
                node.scalar_text().unwrap_or(node.kind_name())
            ),
        )
    };
    match node.scalar() {
        Some(Scalar::Int(i)) => Ok(i),
        Some(Scalar::Str(s)) => s.trim().parse().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

pub fn duration(r: &Reporter, node: &Node, what: &str) -> Result<Duration> {
    let text = string(r, node, what)?;
    Duration::parse(&text).map_err(|e| r.error(node, format!("{what}: {e}")))
}

/// A string or a list of strings, as `tmpfs`, `env_file` and `dns` allow.
pub fn string_or_list(r: &Reporter, node: &Node, what: &str) -> Result<Vec<String>> {
    match &node.kind {
        NodeKind::Seq(items) => items.iter().map(|i| string(r, i, what)).collect(),
        _ => Ok(vec![string(r, node, what)?]),
    }
}

pub fn string_list(r: &Reporter, node: &Node, what: &str) -> Result<Vec<String>> {
    seq(r, node, what)?
        .iter()
        .map(|i| string(r, i, what))
        .collect()
}

/// `environment`, `labels`, `build.args`: either `KEY=VALUE` items or a
/// mapping. A list item without `=` (or a null map value) means "no value".
pub fn list_or_map(
    r: &Reporter,
    node: &Node,
    what: &str,
    separator: char,
) -> Result<IndexMap<String, Option<String>>> {
    let mut out = IndexMap::new();
    match &node.kind {
        NodeKind::Seq(items) => {
            for item in items {
                let text = string(r, item, what)?;
                let (k, v) = match text.split_once(separator) {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (text, None),
                };
                if k.is_empty() {
                    return Err(r.error(
                        item,
                        format!(
                            "{what}: empty name in `{}`",
                            item.scalar_text().unwrap_or_default()
                        ),
                    ));
                }
                out.insert(k, v);
            }
        }
        NodeKind::Map(_) => {
            for (k, v) in map(r, node, what)? {
                let value = match v.scalar() {
                    Some(Scalar::Null) => None,
                    Some(scalar) => Some(scalar_to_string(&scalar, v)),
                    None => {
                        return Err(r.error(
                            v,
                            format!(
                                "{what}.{} must be a string, found {}",
                                key(k),
                                v.kind_name()
                            ),
                        ));
                    }
                };
                out.insert(key(k).to_owned(), value);
            }
        }
        NodeKind::Scalar { .. } => {
            if !node.is_null() {
                return Err(r.error(
                    node,
                    format!(
                        "{what} must be a list or a mapping, found {}",
                        node.kind_name()
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Like [`string_or_list`], but for `command`/`entrypoint`: a string is split
/// the way a POSIX shell would, as compose does.
pub fn command(r: &Reporter, node: &Node, what: &str) -> Result<Option<Vec<String>>> {
    match &node.kind {
        NodeKind::Seq(items) => Ok(Some(
            items
                .iter()
                .map(|i| string(r, i, what))
                .collect::<Result<_>>()?,
        )),
        _ if node.is_null() => Ok(None),
        _ => {
            let text = string(r, node, what)?;
            shell_words::split(&text)
                .map(Some)
                .map_err(|e| r.error(node, format!("{what} cannot be split into words: {e}")))
        }
    }
}

/// Warns about every key of `node` not in `known`, except `x-` extensions.
pub fn warn_unknown(r: &mut Reporter, node: &Node, known: &[&str], what: &str) {
    for (k, _) in node.as_map().unwrap_or_default() {
        let name = key(k);
        if !known.contains(&name) && !name.starts_with("x-") {
            r.warn(
                k,
                format!("{what}: `{name}` is not supported by devrig yet and is ignored"),
            );
        }
    }
}

/// Errors on every key of `node` not in `known`: for devservices' own blocks,
/// where a typo would otherwise silently change meaning.
pub fn deny_unknown(r: &Reporter, node: &Node, known: &[&str], what: &str) -> Result<()> {
    for (k, _) in node.as_map().unwrap_or_default() {
        let name = key(k);
        if !known.contains(&name) {
            return Err(r
                .error(k, format!("unknown key `{name}` in {what}"))
                .with_hint(format!("allowed keys: {}", known.join(", "))));
        }
    }
    Ok(())
}

/// A scalar as compose turns it into a string for `environment` and
/// `labels`: numbers in their canonical form (`0x1F` → `31`, `1.50` → `1.5`),
/// everything else as written.
pub fn scalar_to_string(scalar: &Scalar, node: &Node) -> String {
    match scalar {
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) if f.is_infinite() => if *f > 0.0 { "+Inf" } else { "-Inf" }.to_owned(),
        Scalar::Float(f) if f.is_nan() => "NaN".to_owned(),
        Scalar::Float(f) => f.to_string(),
        _ => node.scalar_text().unwrap_or_default().to_owned(),
    }
}
