//! Property tests: whatever bytes a manifest file holds, loading and validating it never panics, and every
//! problem points inside the file.

mod common;

use flinkops::manifests::load::load_texts;
use proptest::prelude::*;

static SEEDS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(seeds);

fn seeds() -> Vec<String> {
    let mut seeds = Vec::new();
    for dir in [common::repo_root().join("examples-repo/apps"), common::fixture("malformed")] {
        let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        seeds.extend(files.iter().take(12).map(|f| std::fs::read_to_string(f).unwrap()));
    }
    seeds
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, String),
    Delete(usize, usize),
    DuplicateLine(usize),
    Replace(usize, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let fragment = prop_oneof![
        Just(": ".to_owned()),
        Just("\n  ".to_owned()),
        Just("\t".to_owned()),
        Just("- ".to_owned()),
        Just("[".to_owned()),
        Just("{".to_owned()),
        Just("\"".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("---\n".to_owned()),
        Just("é".to_owned()),
        Just("\r\n".to_owned()),
        "[ -~]{0,12}",
    ];
    prop_oneof![
        (any::<usize>(), fragment).prop_map(|(at, text)| Mutation::Insert(at, text)),
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Mutation::Delete(at, len)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<char>()).prop_map(|(at, c)| Mutation::Replace(at, c)),
    ]
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(mut text: String, mutation: &Mutation) -> String {
    if text.is_empty() {
        return text;
    }
    match mutation {
        Mutation::Insert(at, fragment) => {
            let at = floor_boundary(&text, at % (text.len() + 1));
            text.insert_str(at, fragment);
        }
        Mutation::Delete(at, len) => {
            let start = floor_boundary(&text, at % text.len());
            let end = floor_boundary(&text, start + len);
            text.replace_range(start..end, "");
        }
        Mutation::DuplicateLine(at) => {
            let lines: Vec<&str> = text.lines().collect();
            let index = at % lines.len().max(1);
            let mut out: Vec<&str> = lines.clone();
            if let Some(line) = lines.get(index) {
                out.insert(index, line);
            }
            text = out.join("\n");
        }
        Mutation::Replace(at, c) => {
            let start = floor_boundary(&text, at % text.len());
            if let Some(old) = text[start..].chars().next() {
                text.replace_range(start..start + old.len_utf8(), &c.to_string());
            }
        }
    }
    text
}

fn check_problems_point_inside(text: &str) {
    let lines = text.split('\n').count();
    let set = load_texts([("fuzz.yaml".to_owned(), Ok(text.as_bytes().to_vec()))]);
    for problem in &set.problems {
        assert!(problem.line >= 1 && problem.line <= lines, "line {} of {lines}: {problem}", problem.line);
        assert!(problem.column >= 1, "{problem}");
        assert!(!problem.message.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_manifests_never_crash_the_validator(
        seed in 0usize..1000,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut text = SEEDS[seed % SEEDS.len()].clone();
        for m in &mutations {
            text = apply(text, m);
        }
        check_problems_point_inside(&text);
    }

    #[test]
    fn arbitrary_text_never_crashes_the_validator(text in "\\PC{0,200}") {
        check_problems_point_inside(&text);
    }

    #[test]
    fn arbitrary_bytes_never_crash_the_loader(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let set = load_texts([("bytes.yaml".to_owned(), Ok(bytes))]);
        prop_assert!(set.problems.iter().all(|p| p.line >= 1 && p.column >= 1));
    }
}
