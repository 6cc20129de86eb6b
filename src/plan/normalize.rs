//! Normalization before diffing, so that equal things compare equal: quantities as Flink and Kubernetes read them,
//! `flinkConfiguration` as the flat string map Flink sees, upstream's defaults filled in or dropped, empty maps and
//! lists dropped, integral floats as integers. Pure; key order never matters because JSON maps compare as sets.
//!
//! What it does not do: anything that depends on another resource or on the cluster (server-side defaults of pod
//! templates, the operator's configuration defaults). Values that do not parse are kept as written, so a typo
//! still shows up as a change.

use serde_json::{Map, Number, Value};

use crate::flink::config_keys;
use crate::units::{
    format_flink_memory, parse_cpu, parse_flink_duration, parse_flink_memory, parse_kubernetes_quantity, parse_memory,
};

/// Returns the normalized form of a manifest (or live object).
pub fn normalize(manifest: &Value) -> Value {
    let mut value = manifest.clone();
    canonical_numbers(&mut value);
    if let Some(Value::Object(metadata)) = value.get_mut("metadata")
        && !metadata.contains_key("namespace")
    {
        // `kubectl apply` and the API place a namespaced object without a namespace in `default`.
        metadata.insert("namespace".into(), Value::String("default".into()));
    }
    if let Some(Value::Object(spec)) = value.get_mut("spec") {
        normalize_spec(spec);
    }
    drop_empty(&mut value);
    value
}

fn normalize_spec(spec: &mut Map<String, Value>) {
    if let Some(config) = spec.get("flinkConfiguration") {
        let flat = flat_config(config);
        spec.insert("flinkConfiguration".into(), Value::Object(flat));
    }
    if let Some(Value::Object(job)) = spec.get_mut("job") {
        normalize_job(job);
    }
    if spec.get("mode").and_then(Value::as_str) == Some("native") {
        // Absent means native (upstream's default).
        spec.remove("mode");
    }
    for role in ["jobManager", "taskManager"] {
        let Some(Value::Object(role_spec)) = spec.get_mut(role) else { continue };
        if role == "jobManager" && role_spec.get("replicas") == Some(&Value::from(1)) {
            role_spec.remove("replicas");
        }
        if let Some(Value::Object(resource)) = role_spec.get_mut("resource") {
            if let Some(memory) = resource.get_mut("memory") {
                map_string(memory, |text| parse_memory(text).ok().map(|b| Value::String(format_flink_memory(b))));
            }
            if let Some(cpu) = resource.get_mut("cpu") {
                normalize_cpu(cpu);
            }
            if let Some(storage) = resource.get_mut("ephemeralStorage") {
                normalize_quantity_bytes(storage);
            }
        }
    }
    normalize_resource_requirements(spec);
}

fn normalize_job(job: &mut Map<String, Value>) {
    if !job.contains_key("state") {
        job.insert("state".into(), Value::String("running".into()));
    }
    match job.get("upgradeMode").and_then(Value::as_str) {
        None if !job.contains_key("upgradeMode") => {
            job.insert("upgradeMode".into(), Value::String("stateless".into()));
        }
        Some("stateful") => {
            job.insert("upgradeMode".into(), Value::String("last-state".into()));
        }
        _ => {}
    }
    if job.get("allowNonRestoredState") == Some(&Value::Bool(false)) {
        job.remove("allowNonRestoredState");
    }
}

/// `flinkConfiguration` as Flink reads it: flat keys, string values; booleans lower-cased, memory sizes and
/// durations in one canonical spelling.
fn flat_config(config: &Value) -> Map<String, Value> {
    let Value::Object(map) = config else { return Map::new() };
    let typed = crate::crd::FlinkConfiguration(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    typed
        .flatten()
        .into_iter()
        .map(|(key, value)| {
            let value = canonical_config_value(&key, &value);
            (key, Value::String(value))
        })
        .collect()
}

/// One configuration value in canonical form.
pub fn canonical_config_value(key: &str, value: &str) -> String {
    let trimmed = value.trim();
    if trimmed.eq_ignore_ascii_case("true") || trimmed.eq_ignore_ascii_case("false") {
        return trimmed.to_ascii_lowercase();
    }
    if is_memory_key(key)
        && let Ok(bytes) = parse_flink_memory(trimmed)
    {
        return format_flink_memory(bytes);
    }
    if config_keys::DURATION_KEYS.contains(&key)
        && let Ok(duration) = parse_flink_duration(trimmed)
    {
        return format_duration_millis(duration.as_millis());
    }
    trimmed.to_owned()
}

fn is_memory_key(key: &str) -> bool {
    key.contains(".memory.") && !key.ends_with("fraction")
}

/// Flink's shortest exact spelling of a duration.
fn format_duration_millis(millis: u128) -> String {
    const UNITS: [(u128, &str); 4] = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "min"), (1_000, "s")];
    for (size, unit) in UNITS {
        if millis >= size && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

fn normalize_cpu(cpu: &mut Value) {
    map_string(cpu, |text| parse_cpu(text).ok().map(float_value));
    canonical_numbers(cpu);
}

/// A Kubernetes byte quantity (`2Gi`, `2048Mi`, `2147483648`) in one spelling: the largest exact binary suffix.
fn normalize_quantity_bytes(value: &mut Value) {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => return,
    };
    if let Ok(bytes) = parse_kubernetes_quantity(&text)
        && bytes >= 0.0
        && bytes.fract() == 0.0
        && bytes < u64::MAX as f64
    {
        *value = Value::String(format_binary_quantity(bytes as u64));
    }
}

fn format_binary_quantity(bytes: u64) -> String {
    const UNITS: [(u64, &str); 5] =
        [(1 << 50, "Pi"), (1 << 40, "Ti"), (1 << 30, "Gi"), (1 << 20, "Mi"), (1 << 10, "Ki")];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

/// Every `resources: {requests, limits}` below the spec (JobManager, TaskManager, pod-template containers).
fn normalize_resource_requirements(node: &mut Map<String, Value>) {
    for (key, child) in node.iter_mut() {
        if key == "resources"
            && let Value::Object(resources) = child
        {
            for bucket in ["requests", "limits"] {
                let Some(Value::Object(amounts)) = resources.get_mut(bucket) else { continue };
                for (name, amount) in amounts.iter_mut() {
                    match name.as_str() {
                        "cpu" => normalize_cpu(amount),
                        "memory" | "ephemeral-storage" => normalize_quantity_bytes(amount),
                        _ => {}
                    }
                }
            }
        }
        match child {
            Value::Object(inner) => normalize_resource_requirements(inner),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        normalize_resource_requirements(inner);
                    }
                }
            }
            _ => {}
        }
    }
}

fn map_string(value: &mut Value, convert: impl Fn(&str) -> Option<Value>) {
    if let Value::String(text) = value
        && let Some(converted) = convert(text)
    {
        *value = converted;
    }
}

fn float_value(number: f64) -> Value {
    Number::from_f64(number).map(Value::Number).unwrap_or(Value::Null)
}

/// Integral floats (`1.0`) as integers, so `cpu: 1` and `cpu: 1.0` compare equal.
fn canonical_numbers(value: &mut Value) {
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => {
            if let Some(float) = number.as_f64()
                && float.fract() == 0.0
                && float.abs() < 9.0e15
            {
                *value = Value::from(float as i64);
            }
        }
        Value::Object(map) => map.values_mut().for_each(canonical_numbers),
        Value::Array(items) => items.iter_mut().for_each(canonical_numbers),
        _ => {}
    }
}

/// Drops nulls, empty maps and empty lists (upstream reads `args: []`, `labels: {}` and absence alike).
fn drop_empty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(drop_empty);
            map.retain(|_, child| !is_empty(child));
        }
        Value::Array(items) => items.iter_mut().for_each(drop_empty),
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(spec: Value) -> Value {
        json!({"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
               "metadata": {"name": "a", "namespace": "default"}, "spec": spec})
    }

    /// Each row: a rule name, two spellings that must normalize to the same value.
    #[test]
    fn equal_spellings_compare_equal() {
        let cases: &[(&str, Value, Value)] = &[
            (
                "flink_memory_2048m_equals_2g",
                json!({"taskManager": {"resource": {"memory": "2048m"}}}),
                json!({"taskManager": {"resource": {"memory": "2g"}}}),
            ),
            (
                "kubernetes_memory_2gi_equals_flink_2g",
                json!({"jobManager": {"resource": {"memory": "2Gi"}}}),
                json!({"jobManager": {"resource": {"memory": "2g"}}}),
            ),
            (
                "cpu_500m_equals_half",
                json!({"taskManager": {"resource": {"cpu": "500m"}}}),
                json!({"taskManager": {"resource": {"cpu": 0.5}}}),
            ),
            (
                "cpu_integral_float_equals_integer",
                json!({"taskManager": {"resource": {"cpu": 1.0}}}),
                json!({"taskManager": {"resource": {"cpu": 1}}}),
            ),
            (
                "resource_requirements_quantities",
                json!({"taskManager": {"resources": {"limits": {"memory": "2048Mi", "cpu": "1000m"}}}}),
                json!({"taskManager": {"resources": {"limits": {"memory": "2Gi", "cpu": 1}}}}),
            ),
            (
                "pod_template_container_quantities",
                json!({"podTemplate": {"spec": {"containers": [{"name": "x", "resources": {"requests": {"cpu": "250m"}}}]}}}),
                json!({"podTemplate": {"spec": {"containers": [{"name": "x", "resources": {"requests": {"cpu": 0.25}}}]}}}),
            ),
            (
                "config_numbers_as_strings",
                json!({"flinkConfiguration": {"taskmanager.numberOfTaskSlots": "2"}}),
                json!({"flinkConfiguration": {"taskmanager.numberOfTaskSlots": 2}}),
            ),
            (
                "config_booleans_as_strings",
                json!({"flinkConfiguration": {"job.autoscaler.enabled": "True"}}),
                json!({"flinkConfiguration": {"job.autoscaler.enabled": true}}),
            ),
            (
                "config_nested_equals_flat",
                json!({"flinkConfiguration": {"state": {"savepoints": {"dir": "s3://x"}}}}),
                json!({"flinkConfiguration": {"state.savepoints.dir": "s3://x"}}),
            ),
            (
                "config_memory_sizes",
                json!({"flinkConfiguration": {"taskmanager.memory.process.size": "4096m"}}),
                json!({"flinkConfiguration": {"taskmanager.memory.process.size": "4 gb"}}),
            ),
            (
                "config_durations",
                json!({"flinkConfiguration": {"execution.checkpointing.interval": "60000"}}),
                json!({"flinkConfiguration": {"execution.checkpointing.interval": "1 min"}}),
            ),
            (
                "job_state_defaults_to_running",
                json!({"job": {"jarURI": "j"}}),
                json!({"job": {"jarURI": "j", "state": "running"}}),
            ),
            (
                "upgrade_mode_defaults_to_stateless",
                json!({"job": {"jarURI": "j"}}),
                json!({"job": {"jarURI": "j", "upgradeMode": "stateless"}}),
            ),
            (
                "stateful_is_last_state",
                json!({"job": {"upgradeMode": "stateful"}}),
                json!({"job": {"upgradeMode": "last-state"}}),
            ),
            ("empty_args_equal_absent", json!({"job": {"args": []}}), json!({"job": {}})),
            ("empty_maps_equal_absent", json!({"flinkConfiguration": {}, "image": "i"}), json!({"image": "i"})),
            ("nulls_equal_absent", json!({"ingress": null, "image": "i"}), json!({"image": "i"})),
            (
                "allow_non_restored_false_equals_absent",
                json!({"job": {"allowNonRestoredState": false}}),
                json!({"job": {}}),
            ),
            ("mode_native_equals_absent", json!({"mode": "native", "image": "i"}), json!({"image": "i"})),
            (
                "one_jobmanager_equals_absent",
                json!({"jobManager": {"replicas": 1, "resource": {"cpu": 1}}}),
                json!({"jobManager": {"resource": {"cpu": 1}}}),
            ),
        ];
        for (name, left, right) in cases {
            assert_eq!(normalize(&deployment(left.clone())), normalize(&deployment(right.clone())), "{name}");
        }
    }

    #[test]
    fn different_values_stay_different() {
        let cases: &[(&str, Value, Value)] = &[
            (
                "memory_sizes_differ",
                json!({"taskManager": {"resource": {"memory": "2g"}}}),
                json!({"taskManager": {"resource": {"memory": "4g"}}}),
            ),
            (
                "decimal_and_binary_quantities_differ",
                json!({"taskManager": {"resources": {"limits": {"memory": "2G"}}}}),
                json!({"taskManager": {"resources": {"limits": {"memory": "2Gi"}}}}),
            ),
            (
                "unparsable_values_are_kept",
                json!({"taskManager": {"resource": {"memory": "lots"}}}),
                json!({"taskManager": {"resource": {"memory": "2g"}}}),
            ),
            ("suspended_is_not_running", json!({"job": {"state": "suspended"}}), json!({"job": {}})),
        ];
        for (name, left, right) in cases {
            assert_ne!(normalize(&deployment(left.clone())), normalize(&deployment(right.clone())), "{name}");
        }
    }

    #[test]
    fn missing_namespace_is_default() {
        let without = json!({"metadata": {"name": "a"}, "spec": {"image": "i"}});
        assert_eq!(normalize(&without).pointer("/metadata/namespace"), Some(&json!("default")));
    }

    #[test]
    fn canonical_spellings_are_readable() {
        let value = normalize(&deployment(json!({"taskManager": {"resource": {"memory": "2Gi", "cpu": "500m"}},
            "flinkConfiguration": {"taskmanager.numberOfTaskSlots": 2}})));
        assert_eq!(value.pointer("/spec/taskManager/resource/memory"), Some(&json!("2g")));
        assert_eq!(value.pointer("/spec/taskManager/resource/cpu"), Some(&json!(0.5)));
        assert_eq!(value.pointer("/spec/flinkConfiguration/taskmanager.numberOfTaskSlots"), Some(&json!("2")));
    }
}
