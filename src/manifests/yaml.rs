//! YAML text to JSON values with source positions: every key and value of every document knows its line, column
//! and byte range, so errors can name `file:line:column` and write-back can edit the exact bytes.
//!
//! Built on `saphyr-parser`'s event stream (spans on every event, YAML 1.2, passes the yaml-test-suite) rather
//! than a serde YAML crate: `serde_yaml` is deprecated, its forks expose positions only in errors, and neither
//! gives the node spans that minimal text edits need. Scalars resolve by the YAML 1.2 core schema; duplicate keys
//! are errors (Kubernetes rejects them too); anchors, aliases and `<<` merge keys work.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

use super::path::{FieldPath, Segment};

/// A place in a source text. Lines and columns are 1-based, as editors show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// Byte offset into the text.
    pub offset: usize,
}

/// Where a node is: its key (for mapping values) and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeSpan {
    /// Start of the key, for values inside a mapping; otherwise the value start.
    pub key: Position,
    /// Start of the value.
    pub value_start: Position,
    /// End of the value (exclusive).
    pub value_end: Position,
}

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct Document {
    /// 0-based index of the document in its file.
    pub index: usize,
    /// The document's content.
    pub value: Value,
    /// Position of the document's first node.
    pub start: Position,
    /// Positions of every node, by path.
    pub spans: HashMap<FieldPath, NodeSpan>,
}

impl Document {
    /// The position to report for a path: the node itself, else its nearest ancestor that exists.
    pub fn position_of(&self, path: &FieldPath) -> Position {
        let mut current = path.clone();
        loop {
            if let Some(span) = self.spans.get(&current) {
                return span.key;
            }
            if current.is_root() {
                return self.start;
            }
            current = current.parent();
        }
    }
}

/// A YAML syntax error, or a structural error the parser does not catch (duplicate key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// 0-based index of the document the error is in.
    pub document: usize,
    /// What is wrong.
    pub message: String,
}

/// The result of reading one file: the documents that parsed and the errors of those that did not.
#[derive(Debug, Clone, Default)]
pub struct ParsedFile {
    /// Documents that parsed, in order (empty documents are left out).
    pub documents: Vec<Document>,
    /// Syntax errors; parsing resumes at the next `---` after each.
    pub errors: Vec<SyntaxError>,
}

/// Parses every document of a YAML text. A syntax error in one document does not hide the documents after it:
/// parsing resumes at the next `---` line.
pub fn parse_documents(text: &str) -> ParsedFile {
    let line_index = LineIndex::new(text);
    let mut parsed = ParsedFile::default();
    let mut start_byte = 0;
    let mut first_document_index = 0;
    loop {
        let chunk = &text[start_byte..];
        let mut builder = Builder::new(&line_index, start_byte, first_document_index);
        let outcome = builder.run(chunk);
        parsed.documents.append(&mut builder.documents);
        match outcome {
            Ok(()) => break,
            Err(error) => {
                let document = builder.document_index;
                parsed.errors.push(SyntaxError { document, ..error.clone() });
                // Resume at the first `---` line after the error.
                let error_offset = line_index.offset_of_line(error.line);
                let Some(next) = find_document_marker(text, error_offset.max(start_byte + 1)) else { break };
                start_byte = next;
                first_document_index = document + 1;
            }
        }
    }
    parsed
}

fn find_document_marker(text: &str, mut from: usize) -> Option<usize> {
    // `from` may point inside a multi-byte character (it comes from "one past the chunk start").
    while from < text.len() && !text.is_char_boundary(from) {
        from += 1;
    }
    let from = from.min(text.len());
    let mut offset = text[..from].rfind('\n').map_or(0, |n| n + 1);
    for line in text[offset..].split_inclusive('\n') {
        if offset >= from
            && (line.starts_with("---") && line[3..].starts_with([' ', '\t', '\r', '\n']) || line.trim_end() == "---")
        {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

/// Maps character indexes (what the parser reports) to byte offsets, lines and columns.
struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset of each line start.
    line_starts: Vec<usize>,
    ascii: bool,
}

impl<'t> LineIndex<'t> {
    fn new(text: &'t str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, line_starts, ascii: text.is_ascii() }
    }

    fn offset_of_line(&self, line: usize) -> usize {
        self.line_starts.get(line.saturating_sub(1)).copied().unwrap_or(self.text.len())
    }

    /// Position of a byte offset.
    fn position(&self, offset: usize) -> Position {
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line - 1];
        let column = if self.ascii {
            offset - line_start
        } else {
            self.text.get(line_start..offset).map_or(offset - line_start, |s| s.chars().count())
        };
        Position { line, column: column + 1, offset }
    }
}

struct Builder<'i, 't> {
    lines: &'i LineIndex<'t>,
    /// Byte offset of the chunk being parsed within the whole text.
    base: usize,
    /// Byte offsets of each char of the chunk, when the text is not ASCII.
    char_offsets: Option<Vec<usize>>,
    documents: Vec<Document>,
    document_index: usize,
    anchors: HashMap<usize, Value>,
}

enum Frame {
    Sequence {
        items: Vec<Value>,
        anchor: usize,
        path: FieldPath,
    },
    Mapping {
        map: Map<String, Value>,
        anchor: usize,
        path: FieldPath,
        pending_key: Option<(String, Position)>,
        merged: Vec<String>,
    },
}

impl<'i, 't> Builder<'i, 't> {
    fn new(lines: &'i LineIndex<'t>, base: usize, document_index: usize) -> Self {
        Builder { lines, base, char_offsets: None, documents: Vec::new(), document_index, anchors: HashMap::new() }
    }

    fn byte_offset(&self, char_index: usize) -> usize {
        match &self.char_offsets {
            None => self.base + char_index,
            Some(offsets) => {
                self.base + offsets.get(char_index).copied().unwrap_or_else(|| offsets.last().copied().unwrap_or(0))
            }
        }
    }

    fn position(&self, char_index: usize) -> Position {
        self.lines.position(self.byte_offset(char_index).min(self.lines.text.len()))
    }

    fn error(&self, char_index: usize, message: String) -> SyntaxError {
        let position = self.position(char_index);
        SyntaxError { line: position.line, column: position.column, document: self.document_index, message }
    }

    fn run(&mut self, chunk: &str) -> Result<(), SyntaxError> {
        if !chunk.is_ascii() {
            let mut offsets: Vec<usize> = chunk.char_indices().map(|(i, _)| i).collect();
            offsets.push(chunk.len());
            self.char_offsets = Some(offsets);
        }
        let mut parser = Parser::new_from_str(chunk);
        let mut stack: Vec<Frame> = Vec::new();
        let mut spans: HashMap<FieldPath, NodeSpan> = HashMap::new();
        let mut document_start = Position::default();
        let mut root: Option<Value> = None;
        let mut in_document = false;
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|e| {
                let marker = e.marker();
                self.error(marker.index(), e.info().to_owned())
            })?;
            match event {
                Event::StreamStart | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    in_document = true;
                    document_start = self.position(span.start.index());
                    spans.clear();
                    self.anchors.clear();
                    root = None;
                }
                Event::DocumentEnd => {
                    if in_document {
                        if let Some(value) = root.take().filter(|v| !v.is_null()) {
                            // Report a document by its first node, not by its `---` line.
                            let start = spans.get(&FieldPath::root()).map_or(document_start, |s| s.value_start);
                            self.documents.push(Document {
                                index: self.document_index,
                                value,
                                start,
                                spans: std::mem::take(&mut spans),
                            });
                        }
                        self.document_index += 1;
                    }
                    in_document = false;
                }
                Event::Alias(anchor) => {
                    let value =
                        self.anchors.get(&anchor).cloned().ok_or_else(|| {
                            self.error(span.start.index(), "alias refers to an unknown anchor".into())
                        })?;
                    self.add_value(&mut stack, &mut spans, &mut root, value, span, false)?;
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let value = resolve_scalar(&text, style, tag.as_deref().map(|t| t.suffix.as_str()));
                    // A scalar in key position becomes the pending key.
                    if let Some(Frame::Mapping { pending_key: pending @ None, .. }) = stack.last_mut() {
                        let key = match &value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        *pending = Some((key, self.position(span.start.index())));
                        continue;
                    }
                    if anchor > 0 {
                        self.anchors.insert(anchor, value.clone());
                    }
                    self.add_value(&mut stack, &mut spans, &mut root, value, span, false)?;
                }
                Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                    let is_sequence = matches!(event, Event::SequenceStart(..));
                    let path = match stack.last() {
                        None => FieldPath::root(),
                        Some(Frame::Sequence { items, path, .. }) => path.index(items.len()),
                        Some(Frame::Mapping { pending_key: Some((key, _)), path, .. }) => path.key(key),
                        Some(Frame::Mapping { pending_key: None, .. }) => {
                            return Err(self.error(span.start.index(), "mapping keys must be scalars".into()));
                        }
                    };
                    let start = self.position(span.start.index());
                    let key_position = match stack.last() {
                        Some(Frame::Mapping { pending_key: Some((_, key_position)), .. }) => *key_position,
                        _ => start,
                    };
                    spans.insert(path.clone(), NodeSpan { key: key_position, value_start: start, value_end: start });
                    stack.push(if is_sequence {
                        Frame::Sequence { items: Vec::new(), anchor, path }
                    } else {
                        Frame::Mapping { map: Map::new(), anchor, path, pending_key: None, merged: Vec::new() }
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(frame) = stack.pop() else { continue };
                    let (value, anchor, path) = match frame {
                        Frame::Sequence { items, anchor, path } => (Value::Array(items), anchor, path),
                        Frame::Mapping { map, anchor, path, .. } => (Value::Object(map), anchor, path),
                    };
                    let end = self.position(span.end.index().max(span.start.index()));
                    if let Some(node) = spans.get_mut(&path) {
                        node.value_end = end;
                    }
                    if anchor > 0 {
                        self.anchors.insert(anchor, value.clone());
                    }
                    self.add_value(&mut stack, &mut spans, &mut root, value, span, true)?;
                }
            }
        }
        Ok(())
    }

    /// Places a finished value into its parent (or as the document root).
    fn add_value(
        &self,
        stack: &mut [Frame],
        spans: &mut HashMap<FieldPath, NodeSpan>,
        root: &mut Option<Value>,
        value: Value,
        span: Span,
        is_collection: bool,
    ) -> Result<(), SyntaxError> {
        let start = self.position(span.start.index());
        let end = self.position(span.end.index());
        match stack.last_mut() {
            None => *root = Some(value),
            Some(Frame::Sequence { items, path, .. }) => {
                if !is_collection {
                    spans.insert(path.index(items.len()), NodeSpan { key: start, value_start: start, value_end: end });
                }
                items.push(value);
            }
            Some(Frame::Mapping { map, path, pending_key, merged, .. }) => {
                let Some((key, key_position)) = pending_key.take() else {
                    return Err(self.error(span.start.index(), "mapping keys must be scalars".into()));
                };
                if key == "<<" {
                    merge_into(map, merged, value);
                    return Ok(());
                }
                if map.contains_key(&key) && !merged.contains(&key) {
                    let message = format!("duplicate key {key:?}");
                    return Err(SyntaxError {
                        line: key_position.line,
                        column: key_position.column,
                        document: self.document_index,
                        message,
                    });
                }
                merged.retain(|k| k != &key);
                if !is_collection {
                    spans.insert(path.key(&key), NodeSpan { key: key_position, value_start: start, value_end: end });
                }
                map.insert(key, value);
            }
        }
        Ok(())
    }
}

/// Applies a `<<` merge key: entries of the merged mapping(s) that the mapping does not set itself.
fn merge_into(map: &mut Map<String, Value>, merged: &mut Vec<String>, value: Value) {
    let sources = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    for source in sources {
        if let Value::Object(entries) = source {
            for (key, entry) in entries {
                if !map.contains_key(&key) {
                    merged.push(key.clone());
                    map.insert(key, entry);
                }
            }
        }
    }
}

/// Resolves a scalar by the YAML 1.2 core schema (and explicit `!!` tags).
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    match tag {
        Some("str") => return Value::String(text.to_owned()),
        Some("int") | Some("float") => {
            return parse_number(text).unwrap_or_else(|| Value::String(text.to_owned()));
        }
        Some("bool") => {
            return parse_bool(text).map(Value::Bool).unwrap_or_else(|| Value::String(text.to_owned()));
        }
        Some("null") => return Value::Null,
        _ => {}
    }
    if style != ScalarStyle::Plain {
        return Value::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        _ => parse_bool(text)
            .map(Value::Bool)
            .or_else(|| parse_number(text))
            .unwrap_or_else(|| Value::String(text.to_owned())),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_number(text: &str) -> Option<Value> {
    let first = text.as_bytes().first()?;
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    if let Some(octal) = text.strip_prefix("0o") {
        return i64::from_str_radix(octal, 8).ok().map(Value::from);
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(Value::from);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(int) = text.parse::<i64>() {
            return Some(Value::from(int));
        }
        if let Ok(int) = text.trim_start_matches('+').parse::<u64>() {
            return Some(Value::from(int));
        }
    }
    let is_float_syntax = digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if is_float_syntax {
        return text.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number);
    }
    None
}

/// A single-document YAML text that did not parse into the expected type, with the place it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {path}: {message}")]
pub struct TypedYamlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Field path (or `(document)`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Reads a one-document YAML text (scenario, configuration file) into a type, naming line, column and field on
/// error.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, TypedYamlError> {
    let parsed = parse_documents(text);
    if let Some(error) = parsed.errors.first() {
        return Err(TypedYamlError {
            line: error.line,
            column: error.column,
            path: FieldPath::root().to_string(),
            message: error.message.clone(),
        });
    }
    let Some(document) = parsed.documents.first() else {
        return Err(TypedYamlError {
            line: 1,
            column: 1,
            path: FieldPath::root().to_string(),
            message: "empty document".into(),
        });
    };
    serde_path_to_error::deserialize(&document.value).map_err(|error| {
        let path = FieldPath::from_serde_path(error.path());
        let position = document.position_of(&path);
        TypedYamlError {
            line: position.line,
            column: position.column,
            path: path.to_string(),
            message: error.into_inner().to_string(),
        }
    })
}

/// Re-export for callers that only need to resolve a path to a span.
pub fn span_of<'d>(document: &'d Document, path: &FieldPath) -> Option<&'d NodeSpan> {
    document.spans.get(path)
}

/// The key segment of a path's last step, if it is a key.
pub fn last_key(path: &FieldPath) -> Option<&str> {
    match path.0.last() {
        Some(Segment::Key(key)) => Some(key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_follow_the_core_schema() {
        let parsed = parse_documents("a: 1\nb: '1'\nc: true\nd: yes\ne: ~\nf: 1.5\ng: 0x10\nh: \"x\"\ni: 2048m\n");
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(
            parsed.documents[0].value,
            json!({"a": 1, "b": "1", "c": true, "d": "yes", "e": null, "f": 1.5, "g": 16, "h": "x", "i": "2048m"})
        );
    }

    #[test]
    fn every_node_knows_its_position() {
        let text = "apiVersion: v1\nkind: X\nspec:\n  job:\n    args:\n      - one\n      - two\n";
        let parsed = parse_documents(text);
        let document = &parsed.documents[0];
        let at = |p: &str| document.position_of(&FieldPath::parse(p));
        assert_eq!((at("kind").line, at("kind").column), (2, 1));
        assert_eq!((at("spec.job").line, at("spec.job").column), (4, 3));
        assert_eq!((at("spec.job.args[1]").line, at("spec.job.args[1]").column), (7, 9));
        // A missing field reports its nearest ancestor.
        assert_eq!(at("spec.job.parallelism").line, 4);
        let span = document.spans[&FieldPath::parse("spec.job.args[0]")];
        assert_eq!(&text[span.value_start.offset..span.value_end.offset], "one");
    }

    #[test]
    fn documents_are_split_and_errors_do_not_hide_later_ones() {
        let text = "a: 1\n---\nb: [unclosed\n---\nc: 3\n---\n# only a comment\n";
        let parsed = parse_documents(text);
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].document, 1);
        assert_eq!(parsed.errors[0].line, 4, "{:?}", parsed.errors[0]);
        let values: Vec<_> = parsed.documents.iter().map(|d| (d.index, d.value.clone())).collect();
        assert_eq!(values, vec![(0, json!({"a": 1})), (2, json!({"c": 3}))]);
        assert_eq!(parsed.documents[1].start.line, 5);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let parsed = parse_documents("a: 1\nb: 2\na: 3\n");
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!((parsed.errors[0].line, parsed.errors[0].column), (3, 1));
        assert!(parsed.errors[0].message.contains("duplicate key \"a\""));
    }

    #[test]
    fn anchors_aliases_and_merge_keys_resolve() {
        let parsed = parse_documents("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\ncopy: *b\n");
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(
            parsed.documents[0].value,
            json!({"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}, "copy": {"x": 1, "y": 2}})
        );
    }

    #[test]
    fn positions_count_characters_after_non_ascii_text() {
        let text = "a: \"héllo wörld\"\nb: 2\n";
        let parsed = parse_documents(text);
        let span = parsed.documents[0].spans[&FieldPath::parse("b")];
        assert_eq!((span.key.line, span.key.column), (2, 1));
        assert_eq!(&text[span.value_start.offset..span.value_end.offset], "2");
    }

    #[test]
    fn recovery_after_an_error_in_a_multibyte_first_line_does_not_panic() {
        // Found by the property test: the resume point fell inside a 4-byte character.
        let parsed = parse_documents("\u{1bc90}: \"");
        assert_eq!(parsed.errors.len(), 1);
    }

    #[test]
    fn crlf_line_endings_parse() {
        let parsed = parse_documents("a: 1\r\nb:\r\n  c: x\r\n");
        assert!(parsed.errors.is_empty());
        assert_eq!(parsed.documents[0].value, json!({"a": 1, "b": {"c": "x"}}));
        assert_eq!(parsed.documents[0].position_of(&FieldPath::parse("b.c")).line, 3);
    }
}
