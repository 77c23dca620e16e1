//! Checks on the code and documents themselves: the reasons a user reads in a condition are
//! all explained in the README, and the README explains only reasons that exist; the
//! controller speaks in typed reasons and validates each AgentPool once per pass; documents
//! link only to files in the repository.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use azp_operator::reason::Reason;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the operator crate lives in the workspace")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first-column names of the README's "Troubleshooting by condition reason" table.
fn troubleshooting_reasons() -> BTreeSet<String> {
    let readme = read(&repo().join("README.md"));
    let section = readme
        .split("## Troubleshooting by condition reason")
        .nth(1)
        .expect("README has the troubleshooting section");
    let mut names = BTreeSet::new();
    for row in section
        .lines()
        .skip_while(|line| !line.starts_with("| Reason"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
    {
        let first = row.split('|').nth(1).expect("a first column");
        // Names are in backticks; what follows in parentheses is the condition, not a name.
        let names_part = first.split('(').next().unwrap_or_default();
        for name in names_part.split('`').skip(1).step_by(2) {
            names.insert(name.to_owned());
        }
    }
    assert!(names.len() > 20, "table parsed: {names:?}");
    names
}

#[test]
fn every_reason_in_the_troubleshooting_table_exists_and_every_reason_is_in_it() {
    let table = troubleshooting_reasons();
    let unknown: Vec<&String> = table
        .iter()
        .filter(|name| Reason::parse(name).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "the README explains reasons the operator never writes: {unknown:?}"
    );
    let missing: Vec<String> = Reason::ALL
        .iter()
        .filter(|reason| match reason {
            Reason::Entra(_) => !table.iter().any(|name| name.starts_with("AADSTS")),
            _ => !table.contains(reason.as_str().as_ref()),
        })
        .map(|reason| reason.as_str().into_owned())
        .collect();
    assert!(
        missing.is_empty(),
        "reasons a user can meet that the README's troubleshooting table does not explain: {missing:?}"
    );
}

fn controller_sources() -> Vec<(PathBuf, String)> {
    let dir = repo().join("operator/src/controller");
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .expect("controller module")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| {
            let text = read(&path);
            // Unit tests may spell reasons out.
            let code = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_owned();
            (path, code)
        })
        .collect();
    files.sort();
    assert!(
        files.len() > 3,
        "the controller is a module of several files"
    );
    files
}

#[test]
fn the_controller_writes_no_reason_as_a_string_literal() {
    let mut literals = Vec::new();
    for (path, code) in controller_sources() {
        for literal in code.split('"').skip(1).step_by(2) {
            if Reason::parse(literal).is_some() {
                literals.push(format!("{}: \"{literal}\"", path.display()));
            }
        }
    }
    assert!(
        literals.is_empty(),
        "use crate::reason::Reason instead of: {literals:?}"
    );
}

#[test]
fn each_agent_pool_is_validated_once_per_pass() {
    let calls: usize = controller_sources()
        .iter()
        .map(|(_, code)| code.matches("planner_view()").count())
        .sum();
    assert_eq!(
        calls, 1,
        "the planner view is made once, at admission, and carried by the member"
    );
}

/// Relative links of a Markdown text: `[text](target)`, without anchors or URLs.
fn relative_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    for part in text.split("](").skip(1) {
        let Some(end) = part.find(')') else { continue };
        let target = part[..end].split('#').next().unwrap_or_default().trim();
        if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        links.push(target.to_owned());
    }
    links
}

#[test]
fn documents_link_only_to_files_inside_the_repository() {
    let root = repo();
    let output = std::process::Command::new("git")
        .args(["ls-files", "*.md"])
        .current_dir(&root)
        .output()
        .expect("git");
    let documents = String::from_utf8(output.stdout).expect("utf-8");
    assert!(documents.lines().count() > 5, "{documents}");
    let mut broken = Vec::new();
    for document in documents.lines() {
        let path = root.join(document);
        let dir = path.parent().expect("a directory");
        for link in relative_links(&read(&path)) {
            let target = dir.join(&link);
            let inside = target
                .canonicalize()
                .is_ok_and(|resolved| resolved.starts_with(root.canonicalize().expect("root")));
            if !inside {
                broken.push(format!("{document}: {link}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to files missing or outside the repository: {broken:?}"
    );
}

/// Every non-test function of `operator/src` with its length in lines (rustfmt's layout: a
/// function ends at the first `}` at its own indentation).
fn function_lengths() -> Vec<(usize, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tests") {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs")
                && path
                    .file_name()
                    .is_some_and(|n| n != "tests.rs" && n != "fixtures.rs")
            {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("operator/src"), &mut files);
    let mut lengths = Vec::new();
    for path in files {
        let text = read(&path);
        let lines: Vec<&str> = text.lines().collect();
        let end = lines
            .iter()
            .position(|line| line.starts_with("#[cfg(test)]"))
            .unwrap_or(lines.len());
        for (start, line) in lines[..end].iter().enumerate() {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            let signature = trimmed
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub(super) ")
                .trim_start_matches("pub ")
                .trim_start_matches("const ")
                .trim_start_matches("async ");
            if !signature.starts_with("fn ") || line.trim_end().ends_with(';') {
                continue;
            }
            let close = format!("{indent}}}");
            if let Some(length) = lines[start..end].iter().position(|l| *l == close) {
                lengths.push((length + 1, format!("{}:{}", path.display(), start + 1)));
            }
        }
    }
    assert!(lengths.len() > 200, "functions found: {}", lengths.len());
    lengths
}

#[test]
fn no_function_of_the_operator_is_longer_than_80_lines() {
    let long: Vec<(usize, String)> = function_lengths()
        .into_iter()
        .filter(|(length, _)| *length > 80)
        .collect();
    assert!(long.is_empty(), "split these into named steps: {long:?}");
}
