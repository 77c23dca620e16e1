//! Shared helpers: where the workspace and the test peers are, and how to run them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace root (two levels above this crate).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The chart under test.
pub fn chart() -> PathBuf {
    workspace().join("charts/azp-operator")
}

/// `$AZP_PEERS_DIR`, or `<workspace>/.cache/peers` when the Makefile did not export it.
pub fn peers_dir() -> PathBuf {
    std::env::var_os("AZP_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".cache/peers"))
}

/// A peer tool; a missing one fails the test with the fix.
pub fn tool(relative: &str) -> PathBuf {
    let path = peers_dir().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `make peers` (scripts/install-peers.sh)",
        path.display()
    );
    path
}

/// `helm` with its cache, config and data directories in a temporary directory.
pub struct Helm {
    homes: tempfile::TempDir,
}

impl Helm {
    pub fn new() -> Self {
        Self {
            homes: tempfile::tempdir().unwrap(),
        }
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(tool("bin/helm"));
        for (var, dir) in [
            ("HELM_CACHE_HOME", "cache"),
            ("HELM_CONFIG_HOME", "config"),
            ("HELM_DATA_HOME", "data"),
        ] {
            command.env(var, self.homes.path().join(dir));
        }
        command
    }

    /// `helm template` of the chart into namespace `azp-system` with these values files and
    /// `--set` pairs; returns the rendered YAML or the error text.
    pub fn template(&self, values: &[&Path], sets: &[&str]) -> Result<String, String> {
        let mut command = self.command();
        command
            .args([
                "template",
                "azp",
                "--namespace",
                "azp-system",
                "--include-crds",
            ])
            .arg(chart());
        for file in values {
            command.arg("--values").arg(file);
        }
        for set in sets {
            command.args(["--set", set]);
        }
        let output = command.output().unwrap();
        if output.status.success() {
            Ok(String::from_utf8(output.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// Renders and panics with helm's message on failure.
    pub fn render(&self, values: &[&Path], sets: &[&str]) -> String {
        self.template(values, sets)
            .unwrap_or_else(|error| panic!("helm template failed: {error}"))
    }
}

/// The two example values files the chart is checked with.
pub fn example_values() -> Vec<PathBuf> {
    let dir = workspace().join("examples/helm");
    vec![
        dir.join("values-namespaced.yaml"),
        dir.join("values-all-namespaces.yaml"),
    ]
}

/// Splits a multi-document YAML stream into JSON values, skipping empty documents.
pub fn documents(yaml: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| serde_json::Value::deserialize(doc).unwrap())
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The objects of one kind.
pub fn of_kind<'a>(docs: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// Runs a command with `stdin` and returns its output.
pub fn run_with_stdin(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Text of a command's stdout and stderr, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
