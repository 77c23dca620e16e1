//! The committed `crds/agentpool.yaml` must be exactly what `azp-operator crd` prints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn committed_crd_matches_the_rust_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/agentpool.yaml");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} unreadable ({e}): run `make generate`", path.display()));
    let generated = azp_operator::crd_yaml().unwrap();
    assert!(
        committed == generated,
        "{} is out of date with the AgentPool Rust types: run `make generate`",
        path.display()
    );
}

#[test]
fn crd_subcommand_prints_the_same_yaml() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_azp-operator"))
        .arg("crd")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        azp_operator::crd_yaml().unwrap()
    );
}
