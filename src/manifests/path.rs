//! `FieldPath`: the address of a field inside a manifest (`spec.job.args[0]`), as printed in errors, plans and
//! drift reports.

use std::fmt;

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path from the document root to a field. Keys that contain `.`, `[` or spaces print as `["a.b"]`, so
/// `spec.flinkConfiguration["state.savepoints.dir"]` stays unambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// The document root.
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// Parses a dotted path such as `spec.job.args[0]` or `spec.flinkConfiguration["a.b"]`.
    pub fn parse(text: &str) -> Self {
        let mut segments = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("[\"") {
                let end = after.find("\"]").unwrap_or(after.len());
                segments.push(Segment::Key(after[..end].to_owned()));
                rest = after.get(end + 2..).unwrap_or("");
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').unwrap_or(after.len());
                match after[..end].parse() {
                    Ok(index) => segments.push(Segment::Index(index)),
                    Err(_) => segments.push(Segment::Key(after[..end].to_owned())),
                }
                rest = after.get(end + 1..).unwrap_or("");
            } else {
                let rest_trimmed = rest.strip_prefix('.').unwrap_or(rest);
                let end = rest_trimmed.find(['.', '[']).unwrap_or(rest_trimmed.len());
                if end > 0 {
                    segments.push(Segment::Key(rest_trimmed[..end].to_owned()));
                }
                rest = &rest_trimmed[end..];
                if end == 0 && !rest.starts_with('[') {
                    rest = rest.get(1..).unwrap_or("");
                }
            }
        }
        FieldPath(segments)
    }

    /// This path extended by a key.
    pub fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.to_owned()));
        next
    }

    /// This path extended by an index.
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    /// The parent path; the root's parent is the root.
    pub fn parent(&self) -> Self {
        let mut parent = self.clone();
        parent.0.pop();
        parent
    }

    /// Whether `self` is `prefix` or lies below it.
    pub fn starts_with(&self, prefix: &FieldPath) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// Whether this is the document root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path serde reported for a deserialization error.
    pub fn from_serde_path(path: &serde_path_to_error::Path) -> Self {
        FieldPath(
            path.iter()
                .filter_map(|segment| match segment {
                    serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
                    serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
                    serde_path_to_error::Segment::Enum { variant } => Some(Segment::Key(variant.clone())),
                    serde_path_to_error::Segment::Unknown => None,
                })
                .collect(),
        )
    }

    /// Looks the path up in a JSON value.
    pub fn lookup<'v>(&self, value: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        self.0.iter().try_fold(value, |node, segment| match segment {
            Segment::Key(key) => node.get(key),
            Segment::Index(index) => node.get(index),
        })
    }
}

fn needs_brackets(key: &str) -> bool {
    key.is_empty() || key.contains(['.', '[', ']', ' ', '"', '/']) || key.starts_with(|c: char| c.is_ascii_digit())
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if needs_brackets(key) => write!(f, "[{key:?}]")?,
                Segment::Key(key) if position == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

impl serde::Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_and_parse_back() {
        for text in [
            "spec.job.args[0]",
            "spec.flinkConfiguration[\"state.savepoints.dir\"]",
            "spec.podTemplate.spec.containers[1].env[0].name",
            "metadata.annotations[\"flinkops.io/savepoint\"]",
            "kind",
        ] {
            let path = FieldPath::parse(text);
            assert_eq!(path.to_string(), text);
        }
        assert_eq!(FieldPath::root().to_string(), "(document)");
        assert_eq!(FieldPath::parse("spec.job").key("parallelism").to_string(), "spec.job.parallelism");
    }

    #[test]
    fn lookup_follows_keys_and_indexes() {
        let value = serde_json::json!({"spec": {"job": {"args": ["a", "b"]}}});
        assert_eq!(FieldPath::parse("spec.job.args[1]").lookup(&value), Some(&serde_json::json!("b")));
        assert_eq!(FieldPath::parse("spec.nope").lookup(&value), None);
    }
}
