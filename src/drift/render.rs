//! Renderers of a [`DriftReport`]: plain text for terminals, Markdown for an issue or a chat message (a namespace
//! summary table, then each resource that is not in sync with its fields), and JSON for tooling. Resources in sync
//! appear only in the counts (and in the JSON). Pure.

use std::fmt::Write as _;

use serde_json::Value;

use super::{Counts, DriftProblem, DriftReport, ResourceDrift, State};

/// The report as pretty JSON.
///
/// # Errors
/// When a value does not serialize (not expected: every value is JSON already).
pub fn json(report: &DriftReport) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report)
}

fn counts_line(counts: &Counts) -> String {
    format!(
        "{} in sync, {} drifted, {} missing live, {} live but not in Git, {} invalid in Git",
        counts.in_sync, counts.drifted, counts.missing_live, counts.not_in_git, counts.invalid
    )
}

fn value_text(value: &Option<Value>) -> String {
    match value {
        None => "(absent)".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

fn state_text(state: State) -> &'static str {
    match state {
        State::InSync => "in sync",
        State::Drifted => "drifted",
        State::MissingLive => "in Git, missing live",
        State::NotInGit => "live, not in Git",
        State::Invalid => "invalid in Git (not compared)",
    }
}

fn location(resource: &ResourceDrift) -> Option<String> {
    let file = resource.file.as_ref()?;
    Some(match resource.line {
        Some(line) => format!("{file}:{line}"),
        None => file.clone(),
    })
}

fn problem_text(problem: &DriftProblem) -> String {
    let mut place = problem.file.clone();
    for part in [problem.line, problem.column].into_iter().flatten() {
        let _ = write!(place, ":{part}");
    }
    match &problem.path {
        Some(path) => format!("{place}: {path}: {}", problem.message),
        None if place.is_empty() => problem.message.clone(),
        None => format!("{place}: {}", problem.message),
    }
}

fn worth_showing(report: &DriftReport) -> impl Iterator<Item = &ResourceDrift> {
    report.resources.iter().filter(|r| r.state != State::InSync || !r.ignored.is_empty())
}

/// The report as plain text.
pub fn text(report: &DriftReport) -> String {
    let mut out = String::new();
    let _ =
        writeln!(out, "Drift of {} against {}: {}", report.revision, report.store, counts_line(&report.summary.total));
    if !report.summary.namespaces.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<24} {:>8} {:>8} {:>13} {:>11} {:>8}",
            "NAMESPACE", "IN SYNC", "DRIFTED", "MISSING LIVE", "NOT IN GIT", "INVALID"
        );
        for (namespace, c) in &report.summary.namespaces {
            let _ = writeln!(
                out,
                "{namespace:<24} {:>8} {:>8} {:>13} {:>11} {:>8}",
                c.in_sync, c.drifted, c.missing_live, c.not_in_git, c.invalid
            );
        }
    }
    for resource in worth_showing(report) {
        let place = location(resource).map(|l| format!(" ({l})")).unwrap_or_default();
        let _ = writeln!(
            out,
            "\n{} {}/{}{place}: {}",
            resource.kind,
            resource.namespace,
            resource.name,
            state_text(resource.state)
        );
        for change in &resource.changes {
            let writer = change.manager.as_deref().map(|m| format!(" (live value written by {m})")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  ~ {}: git {}, live {}{writer}",
                change.path,
                value_text(&change.git),
                value_text(&change.live)
            );
        }
        for field in &resource.ignored {
            let writer = field.manager.as_deref().map(|m| format!(", written by {m}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  = {}: owned by {}{writer} ({}): git {}, live {}",
                field.path,
                field.owner,
                field.reason,
                value_text(&field.git),
                value_text(&field.live)
            );
        }
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "\nErrors:");
        for problem in &report.errors {
            let _ = writeln!(out, "  {}", problem_text(problem));
        }
    }
    out
}

/// Text safe inside a Markdown table cell and inline code.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('`', "'").replace('\n', " ")
}

fn code(text: &str) -> String {
    format!("`{}`", cell(text))
}

/// The report as Markdown.
pub fn markdown(report: &DriftReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## flinkops drift `{}`\n", cell(&report.revision));
    let _ = writeln!(out, "{} ({} error(s))\n", counts_line(&report.summary.total), report.errors.len());
    if !report.summary.namespaces.is_empty() {
        let _ = writeln!(out, "| Namespace | In sync | Drifted | Missing live | Not in Git | Invalid |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for (namespace, c) in &report.summary.namespaces {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                code(namespace),
                c.in_sync,
                c.drifted,
                c.missing_live,
                c.not_in_git,
                c.invalid
            );
        }
        let t = &report.summary.total;
        let _ = writeln!(
            out,
            "| **total** | {} | {} | {} | {} | {} |\n",
            t.in_sync, t.drifted, t.missing_live, t.not_in_git, t.invalid
        );
    }
    let mut first = true;
    for resource in worth_showing(report) {
        if first {
            let _ = writeln!(out, "| Resource | File | State | Fields |");
            let _ = writeln!(out, "|---|---|---|---|");
            first = false;
        }
        let _ = writeln!(
            out,
            "| {} {} | {} | {} | {} drifted, {} ignored |",
            resource.kind,
            code(&format!("{}/{}", resource.namespace, resource.name)),
            location(resource).map(|l| code(&l)).unwrap_or_else(|| "-".to_owned()),
            state_text(resource.state),
            resource.changes.len(),
            resource.ignored.len()
        );
    }
    for resource in worth_showing(report).filter(|r| !r.changes.is_empty() || !r.ignored.is_empty()) {
        let _ = writeln!(
            out,
            "\n### {} {}: {}\n",
            resource.kind,
            code(&format!("{}/{}", resource.namespace, resource.name)),
            state_text(resource.state)
        );
        if !resource.changes.is_empty() {
            let _ = writeln!(out, "| Field | Git | Live | Written by |");
            let _ = writeln!(out, "|---|---|---|---|");
            for change in &resource.changes {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    code(&change.path.to_string()),
                    code(&value_text(&change.git)),
                    code(&value_text(&change.live)),
                    change.manager.as_deref().map(code).unwrap_or_else(|| "unknown".to_owned())
                );
            }
        }
        if !resource.ignored.is_empty() {
            let gap = if resource.changes.is_empty() { "" } else { "\n" };
            let _ = writeln!(out, "{gap}Ignored (not Git's):\n");
            let _ = writeln!(out, "| Field | Owner | Git | Live | Why |");
            let _ = writeln!(out, "|---|---|---|---|---|");
            for field in &resource.ignored {
                let owner = match &field.manager {
                    Some(manager) => format!("{} ({})", field.owner, code(manager)),
                    None => field.owner.to_string(),
                };
                let _ = writeln!(
                    out,
                    "| {} | {owner} | {} | {} | {} |",
                    code(&field.path.to_string()),
                    code(&value_text(&field.git)),
                    code(&value_text(&field.live)),
                    cell(&field.reason)
                );
            }
        }
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "\n### Errors\n");
        for problem in &report.errors {
            let _ = writeln!(out, "- {}", cell(&problem_text(problem)));
        }
    }
    out
}
