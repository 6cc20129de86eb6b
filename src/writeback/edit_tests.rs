//! Unit tests of the minimal annotation edits: one awkward file per case, with the exact expected text.

use super::*;

const PATH: &str = "flinkops.io/savepoint-path";
const TRIGGER: &str = "flinkops.io/savepoint-trigger";

fn pairs(entries: &[(&str, &str)]) -> Vec<(String, String)> {
    entries.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn set(text: &str, document: usize, entries: &[(&str, &str)]) -> String {
    let edited = set_annotations(text, document, &pairs(entries)).unwrap_or_else(|e| panic!("{e}\n{text}"));
    // Idempotence: the same annotations again change nothing.
    assert_eq!(set_annotations(&edited, document, &pairs(entries)).unwrap(), edited);
    edited
}

#[test]
fn existing_block_annotations_keep_comments_and_quoting() {
    let text = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: orders # the orders job
  annotations:
    # owned by team a
    team: a
    flinkops.io/savepoint-path: 's3://old'   # old
  labels: {app: orders}
spec:
  image: flink:2.1
";
    let expected = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: orders # the orders job
  annotations:
    # owned by team a
    team: a
    flinkops.io/savepoint-path: 's3://new'   # old
    flinkops.io/savepoint-trigger: upgrade
  labels: {app: orders}
spec:
  image: flink:2.1
";
    assert_eq!(set(text, 0, &[(PATH, "s3://new"), (TRIGGER, "upgrade")]), expected);
}

#[test]
fn no_annotations_key_is_added_after_the_last_metadata_line() {
    let text = "\
kind: FlinkDeployment
metadata:
    name: orders
    labels:
        app: orders   # label

# the spec
spec: {}
";
    let expected = "\
kind: FlinkDeployment
metadata:
    name: orders
    labels:
        app: orders   # label
    annotations:
        flinkops.io/savepoint-path: s3://sp/1
        flinkops.io/savepoint-trigger: upgrade

# the spec
spec: {}
";
    assert_eq!(set(text, 0, &[(PATH, "s3://sp/1"), (TRIGGER, "upgrade")]), expected);
}

#[test]
fn flow_annotations_get_a_flow_entry() {
    let text = "metadata:\n  name: orders\n  annotations: {team: a}  # flow\nspec: {}\n";
    let expected = "metadata:\n  name: orders\n  annotations: {team: a, flinkops.io/savepoint-path: \"s3://sp/1\"}  # flow\nspec: {}\n";
    assert_eq!(set(text, 0, &[(PATH, "s3://sp/1")]), expected);
}

#[test]
fn flow_metadata_gets_flow_annotations() {
    let text = "kind: FlinkDeployment\nmetadata: {name: orders, namespace: team-a}\nspec: {}\n";
    let expected = "kind: FlinkDeployment\nmetadata: {name: orders, namespace: team-a, annotations: \
                    {flinkops.io/savepoint-path: \"s3://sp/1\", flinkops.io/savepoint-trigger: upgrade}}\nspec: {}\n";
    assert_eq!(set(text, 0, &[(PATH, "s3://sp/1"), (TRIGGER, "upgrade")]), expected);
}

#[test]
fn empty_and_null_annotations_become_block_mappings() {
    let expected = "metadata:\n  name: orders\n  annotations:\n    flinkops.io/savepoint-path: s3://sp/1\nspec: {}\n";
    for text in [
        "metadata:\n  name: orders\n  annotations: {}\nspec: {}\n",
        "metadata:\n  name: orders\n  annotations:\nspec: {}\n",
        "metadata:\n  name: orders\n  annotations: null\nspec: {}\n",
    ] {
        assert_eq!(set(text, 0, &[(PATH, "s3://sp/1")]), expected, "{text}");
    }
    let commented = "metadata:\n  name: orders\n  annotations: ~ # none yet\nspec: {}\n";
    assert_eq!(
        set(commented, 0, &[(PATH, "s3://sp/1")]),
        "metadata:\n  name: orders\n  annotations: # none yet\n    flinkops.io/savepoint-path: s3://sp/1\nspec: {}\n"
    );
}

#[test]
fn anchors_and_aliases_nearby_are_untouched() {
    let text = "\
metadata:
  name: &name orders
  labels: &labels
    app: *name
  annotations:
    copied: *name
spec:
  job:
    args: [*name]
";
    let expected = "\
metadata:
  name: &name orders
  labels: &labels
    app: *name
  annotations:
    copied: *name
    flinkops.io/savepoint-path: s3://sp/1
spec:
  job:
    args: [*name]
";
    assert_eq!(set(text, 0, &[(PATH, "s3://sp/1")]), expected);
}

#[test]
fn annotations_shared_through_an_anchor_are_refused() {
    let text = "metadata:\n  name: x\n  annotations: &a\n    team: a\n  labels: *a\n";
    let error = set_annotations(text, 0, &pairs(&[(PATH, "s3://sp/1")])).unwrap_err();
    assert!(matches!(error, EditError::Verification { line: 1, .. }), "{error}");
    let alias = "metadata:\n  name: x\n  labels: &a {team: a}\n  annotations: *a\n";
    let error = set_annotations(alias, 0, &pairs(&[(PATH, "s3://sp/1")])).unwrap_err();
    assert!(matches!(error, EditError::Unsupported { line: 4, .. }), "{error}");
}

#[test]
fn only_the_chosen_document_changes() {
    let text = "\
# first
metadata:
  name: a
---
metadata:
  name: b # this one
---
metadata:
  name: c
";
    let expected = "\
# first
metadata:
  name: a
---
metadata:
  name: b # this one
  annotations:
    flinkops.io/savepoint-path: s3://sp/b
---
metadata:
  name: c
";
    assert_eq!(set(text, 1, &[(PATH, "s3://sp/b")]), expected);
    assert_eq!(set_annotations(text, 3, &pairs(&[(PATH, "x")])).unwrap_err(), EditError::NoDocument { document: 3 });
}

#[test]
fn crlf_line_endings_are_kept() {
    let text = "metadata:\r\n  name: orders\r\n  annotations:\r\n    team: a\r\nspec: {}\r\n";
    let expected = "metadata:\r\n  name: orders\r\n  annotations:\r\n    team: a\r\n    \
                    flinkops.io/savepoint-path: s3://sp/1\r\nspec: {}\r\n";
    assert_eq!(set(text, 0, &[(PATH, "s3://sp/1")]), expected);
    let bare = "metadata:\r\n  name: orders\r\nspec: {}\r\n";
    assert_eq!(
        set(bare, 0, &[(PATH, "s3://sp/1")]),
        "metadata:\r\n  name: orders\r\n  annotations:\r\n    flinkops.io/savepoint-path: s3://sp/1\r\nspec: {}\r\n"
    );
}

#[test]
fn a_file_without_a_final_line_break() {
    let text = "metadata:\n  name: orders";
    assert_eq!(
        set(text, 0, &[(PATH, "s3://sp/1"), (TRIGGER, "manual")]),
        "metadata:\n  name: orders\n  annotations:\n    flinkops.io/savepoint-path: s3://sp/1\n    \
         flinkops.io/savepoint-trigger: manual"
    );
}

#[test]
fn existing_values_of_every_style_are_replaced_in_place() {
    let text = "\
metadata:
  name: orders
  annotations:
    flinkops.io/savepoint-path: |
      s3://old
    flinkops.io/savepoint-trigger: \"manual\"
    flinkops.io/savepoint-time:
    team: a
";
    let expected = "\
metadata:
  name: orders
  annotations:
    flinkops.io/savepoint-path: s3://new
    flinkops.io/savepoint-trigger: \"upgrade\"
    flinkops.io/savepoint-time: \"2026-01-01T00:00:00.000Z\"
    team: a
";
    let edited = set(
        text,
        0,
        &[(PATH, "s3://new"), (TRIGGER, "upgrade"), ("flinkops.io/savepoint-time", "2026-01-01T00:00:00.000Z")],
    );
    assert_eq!(edited, expected);
}

#[test]
fn values_are_quoted_when_plain_would_change_them() {
    assert_eq!(scalar("s3://bucket/sp-1", false), "s3://bucket/sp-1");
    assert_eq!(scalar("s3://bucket/sp-1", true), "\"s3://bucket/sp-1\"");
    for (value, quoted) in [
        ("true", "\"true\""),
        ("123", "\"123\""),
        ("", "\"\""),
        ("~", "\"~\""),
        ("a: b", "\"a: b\""),
        ("x # y", "\"x # y\""),
        ("- x", "\"- x\""),
        (" padded", "\" padded\""),
        ("two\nlines\t\"q\" \\", "\"two\\nlines\\t\\\"q\\\" \\\\\""),
    ] {
        assert_eq!(scalar(value, false), quoted, "{value:?}");
    }
    let text = "metadata:\n  name: orders\n";
    let weird = "it's: \"odd\"\n# not a comment";
    let edited = set(text, 0, &[(PATH, weird)]);
    let parsed = parse_documents(&edited);
    assert_eq!(parsed.documents[0].value["metadata"]["annotations"][PATH], weird);
}

#[test]
fn unsupported_shapes_name_their_line() {
    let bad = "metadata:\n  name: [unclosed\n";
    assert!(matches!(set_annotations(bad, 0, &pairs(&[(PATH, "x")])).unwrap_err(), EditError::Syntax { .. }));
    let no_metadata = "kind: FlinkDeployment\nspec: {}\n";
    let error = set_annotations(no_metadata, 0, &pairs(&[(PATH, "x")])).unwrap_err();
    assert_eq!(error.line(), 1, "{error}");
    let list = "metadata:\n  name: x\n  annotations: [a]\n";
    assert_eq!(set_annotations(list, 0, &pairs(&[(PATH, "x")])).unwrap_err().line(), 3);
}
