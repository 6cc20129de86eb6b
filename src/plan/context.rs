//! Which unchanged files a plan must also load: validation has cross-resource rules (a session job against its
//! session cluster, one definition per name), so a change is checked together with the files that define or
//! reference the same names. Finding them is a cheap byte scan, not a YAML parse, which keeps a plan of a large
//! repository proportional to the size of the change. Pure.

use std::collections::HashSet;

use serde_json::Value;

use crate::manifests::load::LoadedManifest;

/// The names a set of changed manifests defines or points at (`metadata.name`, `spec.deploymentName`).
pub fn names_of<'m>(manifests: impl IntoIterator<Item = &'m LoadedManifest>) -> HashSet<String> {
    let mut names = HashSet::new();
    for manifest in manifests {
        if !manifest.name.is_empty() {
            names.insert(manifest.name.clone());
        }
        if let Some(target) = manifest.document.value.pointer("/spec/deploymentName").and_then(Value::as_str) {
            names.insert(target.to_owned());
        }
    }
    names
}

/// Whether a file's bytes contain a `name:` (or `…Name:`) entry whose value is one of `names`. A superset test:
/// a hit only means the file is parsed too.
pub fn mentions_any(bytes: &[u8], names: &HashSet<String>) -> bool {
    if names.is_empty() {
        return false;
    }
    let mut rest = bytes;
    while let Some(at) = find(rest, b"ame:") {
        let preceded_by_n = at > 0 && matches!(rest[at - 1], b'n' | b'N');
        let after = &rest[at + 4..];
        if preceded_by_n
            && let Some(value) = scalar_token(after)
            && names.contains(value)
        {
            return true;
        }
        rest = after;
    }
    false
}

/// The plain or quoted scalar that starts a YAML value (`  "orders" # x` → `orders`).
fn scalar_token(after_colon: &[u8]) -> Option<&str> {
    let start = after_colon.iter().position(|b| *b != b' ' && *b != b'\t')?;
    let text = &after_colon[start..];
    let (quote, body) = match text.first() {
        Some(q @ (b'"' | b'\'')) => (Some(*q), &text[1..]),
        _ => (None, text),
    };
    let end = body
        .iter()
        .position(|b| match quote {
            Some(q) => *b == q,
            None => matches!(b, b'\n' | b'\r' | b' ' | b'\t' | b'#' | b',' | b'}' | b']'),
        })
        .unwrap_or(body.len());
    std::str::from_utf8(&body[..end]).ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_names_in_plain_and_quoted_spellings() {
        let names: HashSet<String> = ["orders".to_owned()].into();
        for text in
            ["metadata:\n  name: orders\n", "  name: \"orders\"\n", "deploymentName: 'orders' # x", "{name: orders}"]
        {
            assert!(mentions_any(text.as_bytes(), &names), "{text}");
        }
        for text in ["name: orders-2\n", "image: orders\n", "rename: order\n", ""] {
            assert!(!mentions_any(text.as_bytes(), &names), "{text}");
        }
    }
}
