//! `spec.flinkConfiguration`: a free-form map written flat (`a.b.c: v`) or nested, kept as written on the wire
//! and read as a flat `key -> string` map the way Flink's `config.yaml` parser reads it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Flink configuration exactly as written in the manifest.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(transparent)]
pub struct FlinkConfiguration(pub BTreeMap<String, Value>);

impl JsonSchema for FlinkConfiguration {
    fn schema_name() -> Cow<'static, str> {
        "FlinkConfiguration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "Flink configuration, flat (`a.b.c: v`) or nested YAML.",
            "x-kubernetes-preserve-unknown-fields": true
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

impl FlinkConfiguration {
    /// The configuration as Flink reads it: nested maps joined with `.`, scalars as strings, lists joined with `;`.
    pub fn flatten(&self) -> BTreeMap<String, String> {
        let mut flat = BTreeMap::new();
        for (key, value) in &self.0 {
            flatten_into(key, value, &mut flat);
        }
        flat
    }

    /// One flattened value.
    pub fn get(&self, key: &str) -> Option<String> {
        // Fast path for the common flat spelling; nested spellings need the full flatten.
        match self.0.get(key) {
            Some(value) if !value.is_object() => Some(scalar_to_string(value)),
            _ => self.flatten().remove(key),
        }
    }

    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for FlinkConfiguration {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        FlinkConfiguration(iter.into_iter().map(|(k, v)| (k.into(), Value::String(v.into()))).collect())
    }
}

fn flatten_into(prefix: &str, value: &Value, flat: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                flatten_into(&format!("{prefix}.{key}"), child, flat);
            }
        }
        other => {
            flat.insert(prefix.to_owned(), scalar_to_string(other));
        }
    }
}

/// How Flink's YAML loader turns a value into a configuration string.
pub fn scalar_to_string(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::Array(items) => items.iter().map(scalar_to_string).collect::<Vec<_>>().join(";"),
        Value::Object(_) => serde_json::to_string(value).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_and_flat_spellings_flatten_the_same() {
        let nested: FlinkConfiguration = serde_json::from_value(json!({
            "taskmanager": {"numberOfTaskSlots": 2, "memory": {"process": {"size": "2g"}}},
            "state.savepoints.dir": "file:///sp",
            "pipeline.jars": ["a.jar", "b.jar"],
            "rest.flamegraph.enabled": true
        }))
        .unwrap();
        let flat = nested.flatten();
        assert_eq!(flat["taskmanager.numberOfTaskSlots"], "2");
        assert_eq!(flat["taskmanager.memory.process.size"], "2g");
        assert_eq!(flat["state.savepoints.dir"], "file:///sp");
        assert_eq!(flat["pipeline.jars"], "a.jar;b.jar");
        assert_eq!(flat["rest.flamegraph.enabled"], "true");
        assert_eq!(nested.get("taskmanager.memory.process.size").as_deref(), Some("2g"));
        assert_eq!(nested.get("state.savepoints.dir").as_deref(), Some("file:///sp"));
        assert_eq!(nested.get("missing"), None);
    }
}
