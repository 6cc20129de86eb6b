//! Renderers of a [`Plan`]: plain text for terminals, Markdown ready to paste as a pull-request comment (summary
//! table, then per-resource details with a unified diff of the normalized YAML), and JSON for tooling. Pure.

use std::fmt::Write as _;

use serde_json::Value;
use similar::TextDiff;

use super::impact::RiskLevel;
use super::{Action, Plan, ResourcePlan};
use crate::manifests::emit::to_yaml_string;

/// A unified diff (`similar`) of two normalized objects rendered as YAML; empty when equal.
pub fn unified_diff(current: &Value, desired: &Value) -> String {
    let yaml = |value: &Value| if value.is_null() { String::new() } else { to_yaml_string(value) };
    let (before, after) = (yaml(current), yaml(desired));
    if before == after {
        return String::new();
    }
    TextDiff::from_lines(&before, &after).unified_diff().context_radius(3).header("base", "head").to_string()
}

/// The plan as pretty JSON.
pub fn json(plan: &Plan) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(plan)
}

fn summary_line(plan: &Plan) -> String {
    let count = |action: Action| plan.resources.iter().filter(|r| r.action == action).count();
    let high = plan.resources.iter().flat_map(|r| &r.risks).filter(|r| r.level == RiskLevel::High).count();
    let mut parts = vec![format!("{} changed file(s)", plan.files_changed)];
    for action in [Action::Create, Action::Update, Action::Delete, Action::Invalid] {
        let n = count(action);
        if n > 0 {
            parts.push(format!("{n} {}", action.as_str()));
        }
    }
    let ignored_only = count(Action::Unchanged);
    if ignored_only > 0 {
        parts.push(format!("{ignored_only} with ignored changes only"));
    }
    if plan.unchanged > 0 {
        parts.push(format!("{} unchanged", plan.unchanged));
    }
    parts.push(format!("{high} high risk(s)"));
    parts.push(format!("{} error(s)", plan.errors.len()));
    parts.join(", ")
}

fn value_text(value: &Option<Value>) -> String {
    match value {
        None => "(absent)".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// The plan as plain text.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Plan {} -> {}: {}", plan.base, plan.head, summary_line(plan));
    for resource in &plan.resources {
        let _ = writeln!(
            out,
            "\n{} {}/{} ({}:{}): {}, upgrade {}",
            resource.kind,
            resource.namespace,
            resource.name,
            resource.file,
            resource.line,
            resource.action.as_str(),
            resource.upgrade
        );
        let _ = writeln!(out, "  interruption: {}", resource.interruption);
        if let Some(savepoint) = &resource.restore_from {
            let _ = writeln!(out, "  will restore from {savepoint}");
        }
        for risk in &resource.risks {
            let _ = writeln!(out, "  risk {}: {}", risk.level.as_str(), risk.message);
        }
        for change in &resource.changes {
            let _ = writeln!(out, "  ~ {}: {} -> {}", change.path, value_text(&change.from), value_text(&change.to));
        }
        for field in &resource.ignored {
            let _ = writeln!(out, "  ignored {} (owner {}: {})", field.path, field.owner, field.reason);
        }
    }
    for error in &plan.errors {
        let _ =
            writeln!(out, "error: {}:{}:{}: {}: {}", error.file, error.line, error.column, error.path, error.message);
    }
    for warning in &plan.warnings {
        let _ = writeln!(
            out,
            "warning: {}:{}:{}: {}: {}",
            warning.file, warning.line, warning.column, warning.path, warning.message
        );
    }
    out
}

/// Inline code that survives any content (backticks cannot close it early).
fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'").replace('\n', " "))
}

/// A table cell: pipes escaped, one line.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn level_badge(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::High => "🔴 high",
        RiskLevel::Medium => "🟠 medium",
        RiskLevel::Low => "🔵 low",
    }
}

fn risk_summary(resource: &ResourcePlan) -> String {
    let mut parts = Vec::new();
    for level in [RiskLevel::High, RiskLevel::Medium, RiskLevel::Low] {
        let n = resource.risks.iter().filter(|r| r.level == level).count();
        if n > 0 {
            parts.push(format!("{n} {}", level_badge(level)));
        }
    }
    if parts.is_empty() { "–".to_owned() } else { parts.join(", ") }
}

/// The plan as Markdown for a pull-request comment.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## flinkops plan {} → {}\n", code(&plan.base), code(&plan.head));
    let _ = writeln!(out, "{}\n", summary_line(plan));
    if !plan.resources.is_empty() {
        out.push_str("| Resource | File | Action | Upgrade | Risks |\n|---|---|---|---|---|\n");
        for r in &plan.resources {
            let _ = writeln!(
                out,
                "| {} {} | {} | {} | **{}** | {} |",
                r.kind,
                code(&format!("{}/{}", r.namespace, r.name)),
                code(&format!("{}:{}", r.file, r.line)),
                r.action.as_str(),
                r.upgrade,
                risk_summary(r)
            );
        }
        out.push('\n');
    }
    if !plan.errors.is_empty() {
        out.push_str("### Errors\n\n");
        for e in &plan.errors {
            let _ = writeln!(
                out,
                "- {} {}: {}",
                code(&format!("{}:{}:{}", e.file, e.line, e.column)),
                code(&e.path),
                e.message
            );
        }
        out.push('\n');
    }
    for r in &plan.resources {
        resource_markdown(r, &mut out);
    }
    if !plan.warnings.is_empty() {
        out.push_str("<details><summary>Warnings</summary>\n\n");
        for w in &plan.warnings {
            let _ = writeln!(
                out,
                "- {} {}: {}",
                code(&format!("{}:{}:{}", w.file, w.line, w.column)),
                code(&w.path),
                w.message
            );
        }
        out.push_str("\n</details>\n");
    }
    out
}

fn resource_markdown(r: &ResourcePlan, out: &mut String) {
    let _ = writeln!(
        out,
        "### {} {}: {}, upgrade **{}**\n",
        r.kind,
        code(&format!("{}/{}", r.namespace, r.name)),
        r.action.as_str(),
        r.upgrade
    );
    let _ = writeln!(out, "{} · interruption: {}\n", code(&format!("{}:{}", r.file, r.line)), r.interruption);
    if let Some(savepoint) = &r.restore_from {
        let _ = writeln!(out, "will restore from {}\n", code(savepoint));
    }
    if !r.risks.is_empty() {
        for risk in &r.risks {
            let _ = writeln!(out, "- {}: {}", level_badge(risk.level), risk.message);
        }
        out.push('\n');
    }
    if !r.diff.is_empty() {
        // A fence longer than any backtick run inside, so YAML content cannot end it.
        let fence = "`".repeat(longest_backtick_run(&r.diff).max(2) + 1);
        let _ = writeln!(out, "<details><summary>{} changed field(s)</summary>\n", r.changes.len());
        let _ = writeln!(out, "{fence}diff\n{}{fence}\n\n</details>\n", ensure_newline(&r.diff));
    }
    if !r.ignored.is_empty() {
        out.push_str("Ignored (owned by another writer, neither diffed nor applied):\n\n| Field | Owner | Why | Git value |\n|---|---|---|---|\n");
        for field in &r.ignored {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                code(&field.path.to_string()),
                field.owner,
                cell(&field.reason),
                code(&value_text(&field.to))
            );
        }
        out.push('\n');
    }
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

fn ensure_newline(text: &str) -> String {
    if text.ends_with('\n') { text.to_owned() } else { format!("{text}\n") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unified_diff_shows_changed_lines_only() {
        let a = json!({"spec": {"image": "a:1", "serviceAccount": "flink"}});
        let b = json!({"spec": {"image": "a:2", "serviceAccount": "flink"}});
        let diff = unified_diff(&a, &b);
        assert!(diff.contains("-  image: a:1"), "{diff}");
        assert!(diff.contains("+  image: a:2"), "{diff}");
        assert!(diff.starts_with("--- base\n+++ head\n"), "{diff}");
        assert_eq!(unified_diff(&a, &a), "");
    }

    #[test]
    fn markdown_code_and_cells_are_escaped() {
        assert_eq!(code("a`b"), "`a'b`");
        assert_eq!(cell("a|b"), "a\\|b");
        assert_eq!(longest_backtick_run("x ``` y `"), 3);
    }
}
