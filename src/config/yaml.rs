//! A YAML document as a tree of nodes that remember where they came from.
//!
//! Compose's pipeline is parse → interpolate → type, so typed deserialization
//! straight from the text (serde-style) does not fit: `retries: ${RETRIES}` only
//! becomes a number after interpolation. We therefore build a small positioned
//! tree from `saphyr-parser`'s events, resolving anchors, aliases and merge keys
//! here, and leave scalar typing to the model (scalars keep their source text).
//!
//! Aliases are expanded by copying the anchored node, which is only safe because
//! every expansion is charged against [`NODE_BUDGET`] first: a "billion laughs"
//! document is refused with a clear error before it can allocate much memory.
//! Only what aliases bring in is charged: a document's own nodes cost memory
//! in proportion to its text, which the file size limit bounds
//! ([`super::max_size`]).
//!
//! Everything here is linear in the document: keys are checked for
//! duplicates through a hash set, not by scanning the entries before them
//! (that made a mapping of 80k keys take 22 s).

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// The most nodes aliases may bring into a document, each alias counted at
/// the full size of what it copies. Sentry's real config copies a few
/// hundred; this leaves three orders of headroom.
pub const NODE_BUDGET: usize = 250_000;

/// Deepest nesting accepted; real configs stay under 10.
const MAX_DEPTH: usize = 128;

/// What to do about nesting deeper than [`MAX_DEPTH`] (ours, or the
/// parser's own limit on `[`/`{`).
const NESTING_HINT: &str = "a devservices config nests a few levels deep; flatten the deepest part, or move it into a file the config refers to";

/// A 1-based line and column in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl Pos {
    fn from_span(span: &Span) -> Self {
        Pos {
            line: span.start.line(),
            col: span.start.col() + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// The source text of a scalar. `plain` is false for quoted and block
    /// scalars, which YAML never resolves to null, bool or number.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// What a scalar means under the YAML 1.2 core schema, which is what compose's
/// YAML library (go-yaml v3) applies to untyped values.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Node {
    pub fn scalar(&self) -> Option<Scalar<'_>> {
        match &self.kind {
            NodeKind::Scalar { text, plain } if *plain => Some(resolve_plain(text)),
            NodeKind::Scalar { text, .. } => Some(Scalar::Str(text)),
            _ => None,
        }
    }

    /// The scalar's text, whatever type it resolves to (`5432` → "5432").
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.scalar(), Some(Scalar::Null))
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// Looks a key up in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.scalar_text() == Some(key))
            .map(|(_, v)| v)
    }

    /// A short name for the node's kind, for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match self.scalar() {
            None if self.as_map().is_some() => "a mapping",
            None => "a list",
            Some(Scalar::Null) => "null",
            Some(Scalar::Bool(_)) => "a boolean",
            Some(Scalar::Int(_)) | Some(Scalar::Float(_)) => "a number",
            Some(Scalar::Str(_)) => "a string",
        }
    }
}

fn resolve_plain(text: &str) -> Scalar<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(text) {
        return Scalar::Int(i);
    }
    let looks_numeric = text
        .trim_start_matches(['+', '-'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if looks_numeric
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE_".contains(c))
        && let Ok(f) = text.replace('_', "").parse::<f64>()
    {
        return Scalar::Float(f);
    }
    Scalar::Str(text)
}

fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let digits = digits.replace('_', "");
    let (radix, body) = if let Some(rest) = digits.strip_prefix("0x") {
        (16, rest.to_owned())
    } else if let Some(rest) = digits.strip_prefix("0o") {
        (8, rest.to_owned())
    } else if let Some(rest) = digits.strip_prefix("0b") {
        (2, rest.to_owned())
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i64::from_str_radix(&body, radix).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub message: String,
    pub pos: Pos,
    pub hint: Option<String>,
}

impl YamlError {
    fn new(pos: Pos, message: impl Into<String>) -> Self {
        YamlError {
            message: message.into(),
            pos,
            hint: None,
        }
    }
}

/// Parses the first document of `text`. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut builder = Builder {
        text,
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        expanded: 0,
    };
    builder.document()
}

/// The parser's error `info` at `pos` (character `index` of `text`), in
/// devrig's words where it has some, with what to do about it.
fn scan_error(text: &str, index: usize, pos: Pos, info: &str) -> YamlError {
    let mut err = YamlError::new(pos, format!("invalid YAML: {info}"));
    // A word, not a substring: "unprintable" holds "tab" too.
    let about_tabs = info
        .split(|c: char| !c.is_ascii_alphabetic())
        .any(|w| w == "tab" || w == "tabs");
    if about_tabs {
        err.hint = Some(
            "YAML does not allow tabs for indentation (nor in some other places): indent with spaces"
                .to_owned(),
        );
    } else if info == "found unprintable character" {
        // The marker counts characters: name the one it stopped at (a NUL,
        // an ESC), when that is indeed one that cannot be shown.
        if let Some(c) = text.chars().nth(index).filter(|c| c.is_control()) {
            err.message = format!(
                "invalid YAML: found the unprintable character {}",
                describe(c)
            );
        }
        err.hint = Some(
            "a config is text: remove the character, or write it as an escape inside double quotes (\"\\0\", \"\\x1b\")"
                .to_owned(),
        );
    } else if info == "recursion limit exceeded" {
        err.message = "YAML nesting is too deep".to_owned();
        err.hint = Some(NESTING_HINT.to_owned());
    }
    err
}

/// `U+0000 (NUL)`: a character that cannot be shown as itself.
fn describe(c: char) -> String {
    const C0: [&str; 32] = [
        "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "TAB", "LF", "VT", "FF",
        "CR", "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM",
        "SUB", "ESC", "FS", "GS", "RS", "US",
    ];
    let code = format!("U+{:04X}", u32::from(c));
    match C0.get(c as usize) {
        Some(name) => format!("{code} ({name})"),
        None if c == '\u{7f}' => format!("{code} (DEL)"),
        None => code,
    }
}

struct Builder<'a> {
    text: &'a str,
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// Anchor id → the node and its expanded size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes brought in by aliases so far.
    expanded: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(e)) => {
                let m = e.marker();
                let pos = Pos {
                    line: m.line(),
                    col: m.col() + 1,
                };
                Err(scan_error(self.text, m.index(), pos, e.info()))
            }
            None => Err(YamlError::new(Pos::default(), "unexpected end of YAML")),
        }
    }

    fn document(&mut self) -> Result<Node, YamlError> {
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::Nothing => {}
                Event::DocumentStart(_) => {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::DocumentEnd) {
                        return Ok(empty_map(Pos::from_span(&span)));
                    }
                    return Ok(self.node(event, span, 0)?.0);
                }
                Event::StreamEnd => return Ok(empty_map(Pos::from_span(&span))),
                _ => return Err(YamlError::new(Pos::from_span(&span), "expected a document")),
            }
        }
    }

    /// Counts the `nodes` an alias at `pos` copies against [`NODE_BUDGET`].
    fn charge(&mut self, nodes: usize, pos: Pos) -> Result<(), YamlError> {
        self.expanded = self.expanded.saturating_add(nodes);
        if self.expanded > NODE_BUDGET {
            let mut err = YamlError::new(
                pos,
                format!(
                    "YAML document expands to more than {NODE_BUDGET} nodes through its aliases"
                ),
            );
            err.hint = Some(
                "this looks like an alias bomb; a devservices config needs far fewer nodes"
                    .to_owned(),
            );
            return Err(err);
        }
        Ok(())
    }

    /// Builds the node that starts with `event`; returns it with its expanded size.
    fn node(
        &mut self,
        event: Event<'a>,
        span: Span,
        depth: usize,
    ) -> Result<(Node, usize), YamlError> {
        let pos = Pos::from_span(&span);
        if depth > MAX_DEPTH {
            let mut err = YamlError::new(
                pos,
                format!("YAML nesting is too deep (more than {MAX_DEPTH} levels)"),
            );
            err.hint = Some(NESTING_HINT.to_owned());
            return Err(err);
        }
        let (node, size, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                // `!!str 123` is a string; other tags (compose's `!reset`, `!override`)
                // only matter when merging several files, which devservices never does.
                let forced_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let plain = style == ScalarStyle::Plain && !forced_str;
                let node = Node {
                    kind: NodeKind::Scalar {
                        text: text.into_owned(),
                        plain,
                    },
                    pos,
                };
                (node, 1, anchor)
            }
            Event::Alias(id) => {
                let (node, size) = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| YamlError::new(pos, "alias to an unknown anchor"))?;
                self.charge(size, pos)?;
                return Ok((node, size));
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                let mut size = 1;
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let (item, item_size) = self.node(event, span, depth + 1)?;
                    size += item_size;
                    items.push(item);
                }
                let node = Node {
                    kind: NodeKind::Seq(items),
                    pos,
                };
                (node, size, anchor)
            }
            Event::MappingStart(anchor, _) => {
                let (node, size) = self.mapping(pos, depth)?;
                (node, size, anchor)
            }
            _ => return Err(YamlError::new(pos, "unexpected YAML event")),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        Ok((node, size))
    }

    /// Reads a mapping's entries and applies merge keys (`<<: *base` or
    /// `<<: [*a, *b]`): explicit keys win over merged ones, and among merged
    /// mappings the first listed wins, as in the YAML 1.1 merge spec.
    fn mapping(&mut self, pos: Pos, depth: usize) -> Result<(Node, usize), YamlError> {
        let mut entries: Vec<(Node, Node)> = Vec::new();
        // Each key's text and where it is first written.
        let mut seen: HashMap<String, Pos> = HashMap::new();
        let mut merged = Merged::default();
        let mut size = 1;
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                break;
            }
            let is_merge_key =
                matches!(&event, Event::Scalar(t, ScalarStyle::Plain, _, _) if t == "<<");
            let (key, key_size) = self.node(event, span, depth + 1)?;
            let (event, span) = self.next()?;
            let (value, value_size) = self.node(event, span, depth + 1)?;
            size += key_size + value_size;
            if is_merge_key {
                merged.add(&value)?;
                continue;
            }
            let Some(text) = key.scalar_text() else {
                return Err(YamlError::new(key.pos, "mapping keys must be scalars"));
            };
            match seen.entry(text.to_owned()) {
                Entry::Occupied(first) => {
                    let mut err = YamlError::new(
                        key.pos,
                        format!(
                            "duplicate key `{text}` (first defined at line {})",
                            first.get().line
                        ),
                    );
                    err.hint = Some(
                        "remove one of the two; compose refuses duplicate keys too".to_owned(),
                    );
                    return Err(err);
                }
                Entry::Vacant(slot) => {
                    slot.insert(key.pos);
                }
            }
            entries.push((key, value));
        }
        entries.extend(
            merged
                .entries
                .into_iter()
                .filter(|(k, _)| !seen.contains_key(k.scalar_text().unwrap_or_default())),
        );
        Ok((
            Node {
                kind: NodeKind::Map(entries),
                pos,
            },
            size,
        ))
    }
}

/// The entries a mapping's merge keys bring in, the first of each key kept.
#[derive(Default)]
struct Merged {
    entries: Vec<(Node, Node)>,
    keys: HashSet<String>,
}

impl Merged {
    fn add(&mut self, value: &Node) -> Result<(), YamlError> {
        let sources: Vec<&Node> = match &value.kind {
            NodeKind::Map(_) => vec![value],
            NodeKind::Seq(items) => items.iter().collect(),
            NodeKind::Scalar { .. } => {
                return Err(YamlError::new(
                    value.pos,
                    "a merge key `<<` needs a mapping or a list of mappings",
                ));
            }
        };
        for source in sources {
            let Some(entries) = source.as_map() else {
                return Err(YamlError::new(
                    source.pos,
                    "a merge key `<<` needs a mapping or a list of mappings",
                ));
            };
            for (key, value) in entries {
                // A mapping's keys are scalars: `mapping` refused the others.
                let text = key.scalar_text().unwrap_or_default();
                if self.keys.insert(text.to_owned()) {
                    self.entries.push((key.clone(), value.clone()));
                }
            }
        }
        Ok(())
    }
}

fn empty_map(pos: Pos) -> Node {
    Node {
        kind: NodeKind::Map(Vec::new()),
        pos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(node: &Node, key: &str) -> String {
        node.get(key).unwrap().scalar_text().unwrap().to_owned()
    }

    #[test]
    fn positions_are_one_based() {
        let doc = parse("a: 1\nb:\n  c: x\n").unwrap();
        assert_eq!(
            doc.get("b").unwrap().get("c").unwrap().pos,
            Pos { line: 3, col: 6 }
        );
        let (key, _) = &doc.as_map().unwrap()[1];
        assert_eq!(key.pos, Pos { line: 2, col: 1 });
    }

    #[test]
    fn scalars_resolve_by_core_schema() {
        let doc = parse(
            "a: 1\nb: '1'\nc: true\nd: yes\ne: ~\nf:\ng: 0.1\nh: 0x1F\ni: -3\nj: 1e3\nk: .inf\n",
        )
        .unwrap();
        let s = |k: &str| doc.get(k).unwrap().scalar().unwrap();
        assert_eq!(s("a"), Scalar::Int(1));
        assert_eq!(s("b"), Scalar::Str("1"));
        assert_eq!(s("c"), Scalar::Bool(true));
        assert_eq!(s("d"), Scalar::Str("yes"));
        assert_eq!(s("e"), Scalar::Null);
        assert_eq!(s("f"), Scalar::Null);
        assert_eq!(s("g"), Scalar::Float(0.1));
        assert_eq!(s("h"), Scalar::Int(31));
        assert_eq!(s("i"), Scalar::Int(-3));
        assert_eq!(s("j"), Scalar::Float(1000.0));
        assert_eq!(s("k"), Scalar::Float(f64::INFINITY));
        assert_eq!(text(&doc, "g"), "0.1");
    }

    #[test]
    fn str_tag_keeps_a_number_a_string() {
        let doc = parse("a: !!str 5432\n").unwrap();
        assert_eq!(doc.get("a").unwrap().scalar(), Some(Scalar::Str("5432")));
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let doc = parse("x-env: &env\n  A: 1\nsvc:\n  environment: *env\n").unwrap();
        let env = doc.get("svc").unwrap().get("environment").unwrap();
        assert_eq!(text(env, "A"), "1");
    }

    #[test]
    fn merge_keys_keep_explicit_values_first() {
        let doc =
            parse("x-base: &base\n  image: a\n  restart: always\nsvc:\n  <<: *base\n  image: b\n")
                .unwrap();
        let svc = doc.get("svc").unwrap();
        assert_eq!(text(svc, "image"), "b");
        assert_eq!(text(svc, "restart"), "always");
        assert!(svc.get("<<").is_none());
    }

    #[test]
    fn merge_key_list_first_mapping_wins() {
        let doc = parse("a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n").unwrap();
        let c = doc.get("c").unwrap();
        assert_eq!(text(c, "x"), "1");
        assert_eq!(text(c, "y"), "1");
        assert_eq!(text(c, "z"), "2");
    }

    #[test]
    fn merge_of_a_scalar_is_an_error() {
        let err = parse("a: &a 1\nb:\n  <<: *a\n").unwrap_err();
        assert!(err.message.contains("merge key"), "{err:?}");
    }

    #[test]
    fn duplicate_keys_are_rejected_with_both_lines() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 3, col: 1 });
        assert!(err.message.contains("first defined at line 1"), "{err:?}");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut doc = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
        let mut prev = "a";
        for name in names {
            doc.push_str(&format!(
                "{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
            prev = name;
        }
        let err = parse(&doc).unwrap_err();
        assert!(err.message.contains("alias"), "{err:?}");
        assert!(err.hint.is_some());
    }

    /// The budget is for what aliases copy: a document's own nodes, however
    /// many, are not charged (the file size limit bounds them).
    #[test]
    fn plain_nodes_beyond_the_alias_budget_are_accepted() {
        let keys = NODE_BUDGET / 2 + 1;
        let doc: String = (0..keys).map(|i| format!("k{i}: v\n")).collect();
        let parsed = parse(&doc).unwrap();
        assert_eq!(parsed.as_map().map(<[_]>::len), Some(keys));
        // Copies are charged: one alias to a mapping of that size is over.
        let copied = format!("a: &a\n{}b: *a\n", doc.replace("k", "  k"));
        let err = parse(&copied).unwrap_err();
        assert!(err.message.contains("alias"), "{err:?}");
    }

    #[test]
    fn a_duplicate_key_far_down_a_large_mapping_names_both_lines() {
        let mut doc: String = (0..50_000).map(|i| format!("k{i}: v\n")).collect();
        doc.push_str("k7: again\n");
        let err = parse(&doc).unwrap_err();
        assert_eq!(
            err.pos,
            Pos {
                line: 50_001,
                col: 1
            }
        );
        assert!(err.message.contains("first defined at line 8"), "{err:?}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: 1\nb: [1, 2\n").unwrap_err();
        assert!(err.message.starts_with("invalid YAML"), "{err:?}");
        assert!(err.pos.line >= 2, "{err:?}");
    }

    #[test]
    fn unknown_alias_is_an_error() {
        assert!(parse("a: *nope\n").is_err());
    }

    #[test]
    fn empty_document_is_an_empty_map() {
        assert_eq!(parse("").unwrap().as_map().map(<[_]>::len), Some(0));
        assert_eq!(
            parse("# only a comment\n")
                .unwrap()
                .as_map()
                .map(<[_]>::len),
            Some(0)
        );
    }
}
