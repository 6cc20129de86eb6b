//! Malformed manifests (`tests/fixtures/malformed/*.yaml`): each file's first line says which problem it must
//! produce (`# expect: LINE:COLUMN PATH :: MESSAGE`), and the validator must report exactly that place.

mod common;

use flinkops::manifests::load::{Discovered, load_paths};
use flinkops::validation::Severity;

struct Expectation {
    line: usize,
    column: usize,
    path: String,
    message: String,
}

fn expectation(text: &str) -> Option<Expectation> {
    let header = text.lines().next()?.strip_prefix("# expect: ")?;
    let (place, message) = header.split_once(" :: ")?;
    let (position, path) = place.split_once(' ')?;
    let (line, column) = position.split_once(':')?;
    Some(Expectation {
        line: line.parse().ok()?,
        column: column.parse().ok()?,
        path: path.to_owned(),
        message: message.to_owned(),
    })
}

#[test]
fn every_malformed_manifest_is_reported_at_its_file_line_column_and_path() {
    let dir = common::fixture("malformed");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 50, "expected at least 50 malformed manifests, found {}", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let expected = expectation(&text).unwrap_or_else(|| panic!("{}: missing `# expect:` header", file.display()));
        let display = file.file_name().unwrap().to_string_lossy().into_owned();
        let set = load_paths(&[Discovered { path: file.clone(), display: display.clone() }]);
        let found = set.problems.iter().any(|p| {
            p.severity == Severity::Error
                && p.file == display
                && p.line == expected.line
                && p.column == expected.column
                && p.path == expected.path
                && p.message.contains(&expected.message)
        });
        if !found {
            let reported: Vec<String> = set.problems.iter().map(ToString::to_string).collect();
            failures.push(format!(
                "{display}: expected {}:{} {} :: {}\n  reported:\n    {}",
                expected.line,
                expected.column,
                expected.path,
                expected.message,
                reported.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures:\n{}", failures.len(), files.len(), failures.join("\n"));
}
