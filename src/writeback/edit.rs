//! Minimal text edits of a YAML manifest: set `metadata.annotations` entries of one document so that only the
//! annotation lines change (comments, key order, quoting, indentation, other documents and CRLF line endings stay
//! byte for byte), then prove it by re-parsing the result. Pure.
//!
//! Each annotation is placed by one small edit found from the node spans of [`crate::manifests::yaml`]: replace
//! the value of an existing key, append a line under a block mapping with the indentation of its siblings, add an
//! entry inside a flow mapping, or create `annotations:` under `metadata:`. The file is re-parsed after every edit,
//! so each step sees exact positions.

use std::ops::Range;

use serde_json::{Map, Value};

use crate::manifests::emit::{double_quoted, string_text};
use crate::manifests::path::FieldPath;
use crate::manifests::yaml::{Document, NodeSpan, parse_documents};

/// Why a manifest could not be edited. Lines are 1-based; the caller adds the file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The file does not parse.
    #[error("line {line}: YAML syntax error: {message}")]
    Syntax {
        /// Line of the error.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// The file has no document with this index.
    #[error("the file has no document {document}")]
    NoDocument {
        /// 0-based document index.
        document: usize,
    },
    /// The manifest's shape is one this module does not edit (no `metadata` mapping, an alias, a merge key).
    #[error("line {line}: {message}")]
    Unsupported {
        /// Line of the node.
        line: usize,
        /// What is in the way.
        message: String,
    },
    /// The edited text would not hold exactly the old content plus the new annotations; nothing is written.
    #[error("line {line}: the edit would change more than the annotations: {message}")]
    Verification {
        /// Line of the document's `metadata`.
        line: usize,
        /// What differs.
        message: String,
    },
}

impl EditError {
    /// 1-based line the error is about (1 when it concerns the whole file).
    pub fn line(&self) -> usize {
        match self {
            EditError::Syntax { line, .. }
            | EditError::Unsupported { line, .. }
            | EditError::Verification { line, .. } => *line,
            EditError::NoDocument { .. } => 1,
        }
    }
}

/// Sets `metadata.annotations[key] = value` for every pair, in document `document` (0-based, counting every
/// document of the file as the loader does), changing only annotation lines. Keys already holding the value are
/// left untouched, so setting the same annotations twice returns the text unchanged.
///
/// # Errors
/// [`EditError`] when the file does not parse, the document is missing or has no `metadata` mapping, the
/// annotations are an alias or merged in, or the re-parsed result differs from the original in anything but these
/// annotations.
pub fn set_annotations(text: &str, document: usize, annotations: &[(String, String)]) -> Result<String, EditError> {
    let before = document_of(text, document)?;
    let mut current = text.to_owned();
    for (key, value) in annotations {
        // Each step either finishes the key or turns the shape into one the next step finishes
        // (`annotations: null` → `annotations:` → a block entry), so three rounds always suffice.
        let mut placed = false;
        for _ in 0..4 {
            let doc = document_of(&current, document)?;
            match step(&current, &doc, key, value)? {
                None => {
                    placed = true;
                    break;
                }
                Some((range, replacement)) => current.replace_range(range, &replacement),
            }
        }
        if !placed {
            return Err(unsupported(before.start.line, &format!("cannot place annotation {key}")));
        }
    }
    verify(text, &before, &current, annotations)?;
    Ok(current)
}

type Edit = Option<(Range<usize>, String)>;

/// The next edit towards `metadata.annotations[key] == value`, or `None` when it already holds.
fn step(text: &str, doc: &Document, key: &str, value: &str) -> Result<Edit, EditError> {
    let metadata_path = FieldPath::root().key("metadata");
    let Some(metadata_span) = doc.spans.get(&metadata_path) else {
        return Err(unsupported(doc.start.line, "the document has no metadata"));
    };
    let Some(Value::Object(metadata)) = doc.value.get("metadata") else {
        return Err(unsupported(metadata_span.key.line, "metadata is not a mapping"));
    };
    let metadata_start = content_start(text, metadata_span.value_start.offset, metadata_span)?;
    let metadata_flow = text[metadata_start..].starts_with('{');
    let annotations_path = metadata_path.key("annotations");
    let nl = line_ending(text);
    let annotations = metadata.get("annotations");
    let Some(span) = doc.spans.get(&annotations_path) else {
        if annotations.is_some() {
            return Err(unsupported(metadata_span.key.line, "metadata.annotations comes from a merge key (<<)"));
        }
        // No `annotations:` yet: add it as the last entry of metadata.
        if metadata_flow {
            let inner = format!("annotations: {{{}: {}}}", scalar(key, true), scalar(value, true));
            return Ok(Some(flow_append(text, doc, &metadata_path, metadata, metadata_start, &inner)));
        }
        let indent = child_indent(doc, &metadata_path, metadata).unwrap_or(metadata_span.key.column + 1);
        let step = block_step(doc, &metadata_path, metadata, metadata_span);
        let lines = [
            format!("{}annotations:", spaces(indent)),
            format!("{}{}: {}", spaces(indent + step), scalar(key, false), scalar(value, false)),
        ];
        return Ok(Some(insert_lines(text, block_end(text, doc, &metadata_path), &lines, nl)));
    };
    let start = content_start(text, span.value_start.offset, span)?;
    match annotations {
        Some(Value::Object(map)) => {
            let flow = text[start..].starts_with('{');
            if let Some(existing) = map.get(key) {
                if existing.as_str() == Some(value) {
                    return Ok(None);
                }
                let Some(entry) = doc.spans.get(&annotations_path.key(key)) else {
                    return Err(unsupported(span.key.line, &format!("annotation {key} comes from a merge key (<<)")));
                };
                return replace_value(text, entry, key, value, flow).map(Some);
            }
            if flow {
                if map.is_empty() && !metadata_flow {
                    // `annotations: {}` in block metadata becomes a block mapping: drop the `{}`.
                    return Ok(Some((trim_back(text, start)..span.value_end.offset, String::new())));
                }
                let inner = format!("{}: {}", scalar(key, true), scalar(value, true));
                return Ok(Some(flow_append(text, doc, &annotations_path, map, start, &inner)));
            }
            let indent = child_indent(doc, &annotations_path, map).unwrap_or(span.key.column + 1);
            let line = format!("{}{}: {}", spaces(indent), scalar(key, false), scalar(value, false));
            Ok(Some(insert_lines(text, block_end(text, doc, &annotations_path), &[line], nl)))
        }
        Some(Value::Null) => {
            let explicit = span.value_end.offset > span.value_start.offset
                && !text[span.value_start.offset..span.value_end.offset].trim().is_empty();
            if metadata_flow {
                if !explicit {
                    return Err(unsupported(span.key.line, "empty annotations inside a flow mapping"));
                }
                let inner = format!("{{{}: {}}}", scalar(key, true), scalar(value, true));
                return Ok(Some((span.value_start.offset..span.value_end.offset, inner)));
            }
            if explicit {
                // `annotations: ~` / `annotations: null` becomes `annotations:`, then gets block entries.
                return Ok(Some((trim_back(text, span.value_start.offset)..span.value_end.offset, String::new())));
            }
            let indent = span.key.column - 1 + block_step(doc, &metadata_path, metadata, metadata_span);
            let line = format!("{}{}: {}", spaces(indent), scalar(key, false), scalar(value, false));
            Ok(Some(insert_lines(text, line_end(text, span.key.offset), &[line], nl)))
        }
        Some(_) => Err(unsupported(span.key.line, "metadata.annotations is not a mapping")),
        None => Err(unsupported(span.key.line, "metadata.annotations has a position but no value")),
    }
}

/// Replaces the value of an existing annotation, keeping its quoting style and any comment after it.
fn replace_value(
    text: &str,
    entry: &NodeSpan,
    key: &str,
    value: &str,
    flow: bool,
) -> Result<(Range<usize>, String), EditError> {
    let start = entry.value_start.offset;
    let Some(colon) = key_colon(text, entry.key.offset) else {
        return Err(unsupported(entry.key.line, &format!("annotation {key}: cannot find the end of its key")));
    };
    let after_colon = text.get(colon + 1..start).unwrap_or("").trim_start();
    if after_colon.starts_with(['*', '&', '!']) || text[start..].starts_with(['*', '&', '!']) {
        return Err(unsupported(entry.key.line, &format!("annotation {key} uses an anchor, alias or tag")));
    }
    if after_colon.starts_with(['|', '>']) {
        // A block scalar: the span covers its content lines; replace header and content, keep the line break.
        let header = start - after_colon.len();
        let end = trim_back(text, entry.value_end.offset);
        let nl = if text[..end].ends_with("\r\n") { "\r\n" } else { "\n" };
        return Ok((header..end, format!("{}{nl}", scalar(value, flow))));
    }
    let end = scalar_end(text, start, entry.value_end.offset);
    let old = &text[start..end];
    // Keep the quoting the file chose for this value when the new value can be written that way.
    let replacement = if old.starts_with('"') {
        double_quoted(value)
    } else if old.starts_with('\'') && !value.chars().any(char::is_control) {
        format!("'{}'", value.replace('\'', "''"))
    } else {
        scalar(value, flow)
    };
    if old.is_empty() || start <= colon {
        // `key:` with an empty value (whose span may sit anywhere near): the value goes right after the colon.
        return Ok((colon + 1..colon + 1, format!(" {replacement}")));
    }
    Ok((start..end, replacement))
}

/// The offset of the `:` that ends the mapping key starting at `key` (after a quoted key's closing quote).
fn key_colon(text: &str, key: usize) -> Option<usize> {
    let line_end = text[key..].find('\n').map_or(text.len(), |i| key + i);
    // A quoted key may itself contain `: `; look for the colon after its closing quote.
    let from = if text[key..].starts_with(['"', '\'']) { scalar_end(text, key, line_end) } else { key };
    text[from..line_end]
        .char_indices()
        .map(|(i, c)| (from + i, c))
        .find(|&(at, c)| c == ':' && text[at + 1..].chars().next().is_none_or(char::is_whitespace))
        .map(|(at, _)| at)
}

/// The end of a scalar that starts at `start`: the parser's span may run on over spaces and a comment.
fn scalar_end(text: &str, start: usize, span_end: usize) -> usize {
    let span = &text[start..span_end.max(start)];
    let mut chars = span.char_indices();
    match chars.next() {
        Some((_, quote @ ('\'' | '"'))) => {
            let mut escaped = false;
            let mut previous_quote = false;
            for (i, c) in chars {
                if quote == '\'' {
                    // `''` is an escaped quote: a quote ends the scalar only when no quote follows it.
                    if previous_quote && c != '\'' {
                        return start + i;
                    }
                    previous_quote = c == '\'' && !previous_quote;
                } else if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    return start + i + 1;
                }
            }
            span_end
        }
        _ => {
            let cut = [" #", "\t#"].iter().filter_map(|m| span.find(m)).min().unwrap_or(span.len());
            start + span[..cut].trim_end().len()
        }
    }
}

/// Adds `inner` as the last entry of the flow mapping at `path` whose `{` is at `open`.
fn flow_append(
    text: &str,
    doc: &Document,
    path: &FieldPath,
    map: &Map<String, Value>,
    open: usize,
    inner: &str,
) -> (Range<usize>, String) {
    let last_end = map
        .keys()
        .filter_map(|k| doc.spans.get(&path.key(k)))
        .map(|s| scalar_end(text, s.value_start.offset, s.value_end.offset))
        .max();
    match last_end {
        Some(end) if !map.is_empty() => (end..end, format!(", {inner}")),
        _ => (open + 1..open + 1, inner.to_owned()),
    }
}

/// Where a node's content starts, after any anchor (`&a`) or tag (`!t`); aliases are refused.
fn content_start(text: &str, mut at: usize, span: &NodeSpan) -> Result<usize, EditError> {
    for _ in 0..2 {
        let rest = &text[at..];
        if rest.starts_with('*') {
            return Err(unsupported(span.key.line, "the node is an alias (*name); edit it by hand"));
        }
        if !rest.starts_with(['&', '!']) {
            break;
        }
        let token = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let after = &rest[token..];
        at += token + (after.len() - after.trim_start().len());
    }
    Ok(at)
}

/// Column (0-based indentation) of the first key of a block mapping.
fn child_indent(doc: &Document, path: &FieldPath, map: &Map<String, Value>) -> Option<usize> {
    map.keys().filter_map(|k| doc.spans.get(&path.key(k))).map(|s| s.key.column - 1).min()
}

/// The indentation step of block metadata (its children's indentation minus its own), at least 1, else 2.
fn block_step(doc: &Document, path: &FieldPath, map: &Map<String, Value>, span: &NodeSpan) -> usize {
    child_indent(doc, path, map).map_or(2, |indent| indent.saturating_sub(span.key.column - 1)).max(1)
}

/// The offset just after the last line of the block mapping at `path`: the line end after the furthest scalar or
/// flow collection below it (a block collection's own end event may sit after trailing comments).
fn block_end(text: &str, doc: &Document, path: &FieldPath) -> usize {
    let mut end = doc.spans.get(path).map_or(0, |s| s.key.offset);
    for (child, span) in &doc.spans {
        if child == path || !child.starts_with(path) {
            continue;
        }
        let is_block_collection = child.lookup(&doc.value).is_some_and(|v| v.is_object() || v.is_array())
            && !text[span.value_start.offset..].starts_with(['{', '[']);
        if !is_block_collection {
            end = end.max(span.value_end.offset).max(span.key.offset);
        }
    }
    line_end(text, end)
}

/// The start of the line after the one containing `offset` (or `offset` itself when it starts a line).
fn line_end(text: &str, offset: usize) -> usize {
    if offset > 0 && text.as_bytes().get(offset - 1) == Some(&b'\n') {
        return offset;
    }
    text[offset..].find('\n').map_or(text.len(), |i| offset + i + 1)
}

/// Inserts whole lines at a line start (or at the end of a file without a final line break).
fn insert_lines(text: &str, at: usize, lines: &[String], nl: &str) -> (Range<usize>, String) {
    let body = lines.join(nl);
    if at == text.len() && !text.is_empty() && !text.ends_with('\n') {
        (at..at, format!("{nl}{body}"))
    } else {
        (at..at, format!("{body}{nl}"))
    }
}

/// The offset before the spaces and tabs that precede `offset`.
fn trim_back(text: &str, offset: usize) -> usize {
    offset - (text[..offset].len() - text[..offset].trim_end_matches([' ', '\t']).len())
}

fn line_ending(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

fn spaces(n: usize) -> String {
    " ".repeat(n)
}

fn unsupported(line: usize, message: &str) -> EditError {
    EditError::Unsupported { line, message: message.to_owned() }
}

/// A string as a YAML scalar: plain when that reads back as the same string (in a flow mapping, also only without
/// flow indicators and colons), else double-quoted.
pub fn scalar(value: &str, flow: bool) -> String {
    if flow && value.contains([',', '[', ']', '{', '}', ':']) { double_quoted(value) } else { string_text(value) }
}

/// The document with this index, or why there is none.
fn document_of(text: &str, index: usize) -> Result<Document, EditError> {
    let parsed = parse_documents(text);
    if let Some(error) = parsed.errors.first() {
        return Err(EditError::Syntax { line: error.line, message: error.message.clone() });
    }
    parsed.documents.into_iter().find(|d| d.index == index).ok_or(EditError::NoDocument { document: index })
}

/// The edited text parses, every other document is unchanged, and the edited one differs only by the
/// annotations, which now hold exactly the requested values.
fn verify(original: &str, before: &Document, edited: &str, annotations: &[(String, String)]) -> Result<(), EditError> {
    let line = before.spans.get(&FieldPath::root().key("metadata")).map_or(before.start.line, |s| s.key.line);
    let failed = |message: String| EditError::Verification { line, message };
    let parsed = parse_documents(edited);
    if let Some(error) = parsed.errors.first() {
        return Err(failed(format!("the result does not parse: {}:{}: {}", error.line, error.column, error.message)));
    }
    let others = |documents: Vec<Document>| -> Vec<(usize, Value)> {
        documents.into_iter().filter(|d| d.index != before.index).map(|d| (d.index, d.value)).collect()
    };
    if others(parse_documents(original).documents) != others(parsed.documents.clone()) {
        return Err(failed("another document of the file would change".into()));
    }
    let Some(after) = parsed.documents.iter().find(|d| d.index == before.index) else {
        return Err(failed("the document is gone".into()));
    };
    let mut expected = before.value.clone();
    let Some(Value::Object(metadata)) = expected.get_mut("metadata") else {
        return Err(failed("metadata is not a mapping".into()));
    };
    let entry = metadata.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
    if entry.is_null() {
        *entry = Value::Object(Map::new());
    }
    let Value::Object(map) = entry else { return Err(failed("annotations is not a mapping".into())) };
    for (key, value) in annotations {
        map.insert(key.clone(), Value::String(value.clone()));
    }
    if after.value != expected {
        return Err(failed(format!("expected {expected}, got {}", after.value)));
    }
    Ok(())
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;
