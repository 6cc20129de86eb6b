//! Structural check of a manifest against the OpenAPI schema of our generated CRDs: unknown fields, wrong types,
//! values outside an enum or an integer format, reported all at once with their field paths (serde would stop at
//! the first one and could not say "did you mean").

use std::sync::LazyLock;

use serde_json::Value;

use super::{Finding, Severity};
use crate::crd::Kind;
use crate::manifests::path::FieldPath;

static DEPLOYMENT_SCHEMA: LazyLock<Value> = LazyLock::new(|| schema_of(Kind::FlinkDeployment));
static SESSION_JOB_SCHEMA: LazyLock<Value> = LazyLock::new(|| schema_of(Kind::FlinkSessionJob));

fn schema_of(kind: Kind) -> Value {
    let crd = serde_json::to_value(kind.crd()).unwrap_or_default();
    crd.pointer("/spec/versions/0/schema/openAPIV3Schema").cloned().unwrap_or_default()
}

/// The root schema of a kind's CRD.
pub fn root_schema(kind: Kind) -> &'static Value {
    match kind {
        Kind::FlinkDeployment => &DEPLOYMENT_SCHEMA,
        Kind::FlinkSessionJob => &SESSION_JOB_SCHEMA,
    }
}

/// Checks `manifest` against the kind's schema; `metadata` gets the object-metadata checks the API server applies.
pub fn check(kind: Kind, manifest: &Value) -> Vec<Finding> {
    let mut findings = Vec::new();
    let schema = root_schema(kind);
    let Value::Object(fields) = manifest else {
        findings.push(Finding::error(FieldPath::root(), "a manifest must be a mapping"));
        return findings;
    };
    let properties = schema.get("properties");
    for (key, value) in fields {
        let path = FieldPath::root().key(key);
        match key.as_str() {
            "apiVersion" | "kind" => {
                if !value.is_string() {
                    findings.push(Finding::error(path, format!("expected a string, found {}", type_name(value))));
                }
            }
            "metadata" => check_metadata(value, &path, &mut findings),
            _ => match properties.and_then(|p| p.get(key)) {
                Some(child) => walk(child, value, &path, &mut findings),
                None => findings.push(unknown_field(&path, key, &["apiVersion", "kind", "metadata", "spec", "status"])),
            },
        }
    }
    findings
}

fn check_metadata(value: &Value, path: &FieldPath, findings: &mut Vec<Finding>) {
    let Value::Object(fields) = value else {
        findings.push(Finding::error(path.clone(), format!("expected a mapping, found {}", type_name(value))));
        return;
    };
    for (key, child) in fields {
        let child_path = path.key(key);
        match key.as_str() {
            "name" | "namespace" | "generateName" | "uid" | "resourceVersion" | "creationTimestamp"
            | "deletionTimestamp" | "selfLink" => {
                if !child.is_string() && !child.is_null() {
                    findings.push(Finding::error(child_path, format!("expected a string, found {}", type_name(child))));
                }
            }
            "labels" | "annotations" => match child {
                Value::Object(entries) => {
                    for (entry_key, entry) in entries {
                        if !entry.is_string() {
                            findings.push(Finding::error(
                                child_path.key(entry_key),
                                format!(
                                    "{key} values must be strings, found {} (quote it: \"{}\")",
                                    type_name(entry),
                                    crate::crd::flink_config::scalar_to_string(entry)
                                ),
                            ));
                        }
                    }
                }
                Value::Null => {}
                other => {
                    findings.push(Finding::error(child_path, format!("expected a mapping, found {}", type_name(other))))
                }
            },
            "generation" | "deletionGracePeriodSeconds" => {
                if !child.is_i64() && !child.is_null() {
                    findings
                        .push(Finding::error(child_path, format!("expected an integer, found {}", type_name(child))));
                }
            }
            "finalizers" | "ownerReferences" | "managedFields" => {
                if !child.is_array() && !child.is_null() {
                    findings.push(Finding::error(child_path, format!("expected a list, found {}", type_name(child))));
                }
            }
            other => findings.push(unknown_field(
                &child_path,
                other,
                &["name", "namespace", "labels", "annotations", "generateName", "finalizers", "ownerReferences"],
            )),
        }
    }
}

fn walk(schema: &Value, value: &Value, path: &FieldPath, findings: &mut Vec<Finding>) {
    // The API server drops nulls for fields that are not nullable before validating, so null is "absent".
    if value.is_null() {
        return;
    }
    for combinator in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = schema.get(combinator) {
            if schema.get("x-kubernetes-int-or-string").is_some() {
                break;
            }
            let mut first_failure = None;
            for branch in branches {
                let mut branch_findings = Vec::new();
                walk(branch, value, path, &mut branch_findings);
                if branch_findings.is_empty() {
                    return check_rest(schema, value, path, findings);
                }
                first_failure.get_or_insert(branch_findings);
            }
            findings.extend(first_failure.unwrap_or_default());
            return;
        }
    }
    if let Some(Value::Array(parts)) = schema.get("allOf") {
        for part in parts {
            walk(part, value, path, findings);
        }
    }
    check_rest(schema, value, path, findings);
}

fn check_rest(schema: &Value, value: &Value, path: &FieldPath, findings: &mut Vec<Finding>) {
    if schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        if !(value.is_i64() || value.is_u64() || value.is_string()) {
            findings.push(Finding::error(
                path.clone(),
                format!("expected an integer or a string, found {}", type_name(value)),
            ));
        }
        return;
    }
    let preserve_unknown = schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
    let declared_type = schema.get("type").and_then(Value::as_str);
    let expected = match declared_type {
        Some("string") if !value.is_string() => Some("a string"),
        Some("integer") if !(value.is_i64() || value.is_u64()) => Some("an integer"),
        Some("number") if !value.is_number() => Some("a number"),
        Some("boolean") if !value.is_boolean() => Some("true or false"),
        Some("array") if !value.is_array() => Some("a list"),
        Some("object") if !value.is_object() => Some("a mapping"),
        _ => None,
    };
    if let Some(expected) = expected {
        findings.push(type_mismatch(path, expected, value));
        return;
    }
    if declared_type == Some("integer")
        && schema.get("format").and_then(Value::as_str) == Some("int32")
        && value.as_i64().is_none_or(|n| i32::try_from(n).is_err())
    {
        findings.push(Finding::error(path.clone(), format!("{value} does not fit a 32-bit integer")));
        return;
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            walk(item_schema, item, &path.index(index), findings);
        }
        return;
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed.iter().map(crate::crd::flink_config::scalar_to_string).collect();
        findings.push(Finding::error(
            path.clone(),
            format!("{} is not one of: {}", crate::crd::flink_config::scalar_to_string(value), names.join(", ")),
        ));
        return;
    }
    let Value::Object(fields) = value else { return };
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    for (key, child) in fields {
        let child_path = path.key(key);
        if let Some(child_schema) = properties.and_then(|p| p.get(key)) {
            walk(child_schema, child, &child_path, findings);
        } else if let Some(additional_schema) = additional.filter(|a| a.is_object()) {
            walk(additional_schema, child, &child_path, findings);
        } else if additional.and_then(Value::as_bool) == Some(true) || preserve_unknown {
            // Free-form content.
        } else if properties.is_some() {
            let known: Vec<&str> = properties.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
            findings.push(unknown_field(&child_path, key, &known));
        }
    }
}

fn type_mismatch(path: &FieldPath, expected: &str, found: &Value) -> Finding {
    let hint = match (expected, found) {
        ("an integer" | "a number", Value::String(text)) if text.trim().parse::<f64>().is_ok() => {
            " (remove the quotes)".to_owned()
        }
        ("a string", Value::Number(_) | Value::Bool(_)) => format!(" (quote it: \"{found}\")"),
        _ => String::new(),
    };
    Finding::error(path.clone(), format!("expected {expected}, found {}{hint}", type_name(found)))
}

fn unknown_field(path: &FieldPath, key: &str, known: &[&str]) -> Finding {
    let suggestion = known
        .iter()
        .map(|candidate| (edit_distance(&key.to_ascii_lowercase(), &candidate.to_ascii_lowercase()), candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| format!(" (did you mean {candidate:?}?)"))
        .unwrap_or_default();
    Finding { severity: Severity::Error, path: path.clone(), message: format!("unknown field {key:?}{suggestion}") }
}

/// Name of a JSON value's type, for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b_chars: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b_chars.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b_chars.len() + 1];
        for (j, cb) in b_chars.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current[j + 1] = (previous[j] + cost).min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b_chars.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(kind: Kind, value: Value) -> Vec<String> {
        check(kind, &value).into_iter().map(|f| format!("{}: {}", f.path, f.message)).collect()
    }

    #[test]
    fn unknown_fields_are_named_with_a_suggestion() {
        let found = messages(Kind::FlinkDeployment, json!({"spec": {"job": {"paralelism": 2}}}));
        assert_eq!(found, vec!["spec.job.paralelism: unknown field \"paralelism\" (did you mean \"parallelism\"?)"]);
    }

    #[test]
    fn wrong_types_enums_and_int32_overflow_are_reported_together() {
        let found = messages(
            Kind::FlinkDeployment,
            json!({"spec": {"job": {"parallelism": "2", "upgradeMode": "fast", "args": "x"},
                            "taskManager": {"replicas": 9_999_999_999i64}, "flinkVersion": "v9_9"}}),
        );
        assert!(
            found.contains(&"spec.job.parallelism: expected an integer, found a string (remove the quotes)".to_owned()),
            "{found:?}"
        );
        assert!(found.iter().any(|m| m.starts_with("spec.job.upgradeMode: fast is not one of")), "{found:?}");
        assert!(found.contains(&"spec.job.args: expected a list, found a string".to_owned()), "{found:?}");
        assert!(found.iter().any(|m| m.contains("does not fit a 32-bit integer")), "{found:?}");
        assert!(found.iter().any(|m| m.starts_with("spec.flinkVersion: v9_9 is not one of")), "{found:?}");
    }

    #[test]
    fn pod_templates_are_checked_against_the_pod_schema() {
        let found = messages(
            Kind::FlinkDeployment,
            json!({"spec": {"podTemplate": {"spec": {"containers": [{"name": "x", "imagePullPolicy": 3, "bogus": 1}]}}}}),
        );
        assert!(
            found
                .iter()
                .any(|m| m.starts_with("spec.podTemplate.spec.containers[0].imagePullPolicy: expected a string")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|m| m.starts_with("spec.podTemplate.spec.containers[0].bogus: unknown field")),
            "{found:?}"
        );
    }

    #[test]
    fn free_form_and_int_or_string_fields_accept_their_values() {
        let found = messages(
            Kind::FlinkDeployment,
            json!({"metadata": {"name": "x", "labels": {"a": "b"}},
                   "spec": {"flinkConfiguration": {"a": {"b": 1}, "c": true},
                            "jobManager": {"resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}}}),
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn label_values_must_be_strings() {
        let found = messages(Kind::FlinkSessionJob, json!({"metadata": {"labels": {"tier": 1}}}));
        assert_eq!(
            found,
            vec!["metadata.labels.tier: labels values must be strings, found an integer (quote it: \"1\")"]
        );
    }
}
