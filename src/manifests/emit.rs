//! Deterministic block-style YAML output for JSON values (generated CRDs, rendered objects); strings are quoted
//! whenever a plain scalar would read back as something else.

use serde_json::Value;

/// Appends `value` as a YAML document to `out`.
pub fn write_yaml(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(map, 0, out),
        Value::Array(items) if !items.is_empty() => write_sequence(items, 0, out),
        scalar => {
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

/// `value` as a YAML string.
pub fn to_yaml_string(value: &Value) -> String {
    let mut out = String::new();
    write_yaml(value, &mut out);
    out
}

fn indent(depth: usize, out: &mut String) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_mapping(map: &serde_json::Map<String, Value>, depth: usize, out: &mut String) {
    for (key, value) in map {
        indent(depth, out);
        out.push_str(&string_text(key));
        out.push(':');
        write_child(value, depth, out);
    }
}

fn write_sequence(items: &[Value], depth: usize, out: &mut String) {
    for item in items {
        indent(depth, out);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                // First entry on the dash line, the rest indented under it.
                let mut nested = String::new();
                write_mapping(map, depth + 1, &mut nested);
                out.push(' ');
                out.push_str(nested.trim_start());
            }
            other => write_child(other, depth, out),
        }
    }
}

fn write_child(value: &Value, depth: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_mapping(map, depth + 1, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_sequence(items, depth + 1, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => string_text(text),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// A string as a plain scalar when that reads back as the same string, else double-quoted.
pub fn string_text(text: &str) -> String {
    if is_plain_safe(text) { text.to_owned() } else { double_quoted(text) }
}

/// A string as a double-quoted YAML scalar: quotes, backslashes and every control or non-printable character
/// escaped, so any reader gets the same string back.
pub fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else { return false };
    if text.trim() != text || text.contains(": ") || text.contains(" #") || text.ends_with(':') {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || text.chars().any(|c| c.is_control()) {
        return false;
    }
    if matches!(text, "null" | "Null" | "NULL" | "~" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE") {
        return false;
    }
    // Anything that starts like a number could resolve as one (or as YAML 1.1's yes/no in other readers).
    let looks_numeric = first.is_ascii_digit() || first == '.' || first == '+';
    !looks_numeric && !matches!(text.to_ascii_lowercase().as_str(), "yes" | "no" | "on" | "off" | "y" | "n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::yaml::parse_documents;
    use serde_json::json;

    #[test]
    fn output_reads_back_as_the_same_value() {
        let value = json!({
            "a": "plain", "b": "1", "c": "true", "d": "a: b", "e": "", "f": [1, "x", {"g": null, "h": [true]}],
            "i": {}, "j": [], "k": "multi\nline", "l": 1.5, "m": "-dash", "n": "yes", "o": {"p": {"q": "0x10"}}
        });
        let text = to_yaml_string(&value);
        let parsed = parse_documents(&text);
        assert!(parsed.errors.is_empty(), "{text}\n{:?}", parsed.errors);
        assert_eq!(parsed.documents[0].value, value, "{text}");
    }
}
