//! Every workspace member depends on `workspace-hack`, so every cargo invocation (`cargo run -p
//! azp-sandbox`, the sandbox's own `cargo build -p azp-operator …`, `cargo build -p X`) resolves
//! dependency features alike and compiles each dependency once per profile. A new crate that
//! forgets the line would bring the double compiles back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `[workspace] members = [ "a", "b", … ]` of the root manifest.
fn members() -> Vec<String> {
    let root = std::fs::read_to_string(workspace().join("Cargo.toml")).unwrap();
    let list = root
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("a members list in Cargo.toml");
    list.split(',')
        .map(|member| member.trim().trim_matches('"').to_owned())
        .filter(|member| !member.is_empty())
        .collect()
}

/// The `[dependencies]` table of a manifest, as text.
fn dependencies(manifest: &str) -> String {
    manifest
        .split("\n[")
        .filter(|section| section.starts_with("dependencies]"))
        .collect()
}

#[test]
fn every_member_depends_on_the_workspace_hack() {
    let members = members();
    assert!(members.len() >= 9, "{members:?}");
    assert!(members.iter().any(|m| m == "workspace-hack"), "{members:?}");
    for member in members.iter().filter(|m| *m != "workspace-hack") {
        let manifest =
            std::fs::read_to_string(workspace().join(member).join("Cargo.toml")).unwrap();
        let line = dependencies(&manifest)
            .lines()
            .find(|line| line.starts_with("workspace-hack = "))
            .map(str::to_owned)
            .unwrap_or_else(|| {
                panic!("{member}/Cargo.toml does not depend on workspace-hack: run `cargo hakari manage-deps`")
            });
        assert!(
            line.contains("path = \"") && line.contains("workspace-hack\""),
            "{member}: workspace-hack must be a path dependency: {line}"
        );
    }
}

#[test]
fn the_hack_pins_the_features_that_used_to_differ_between_invocations() {
    // The crates seen compiled twice (issue 16): their features must be fixed by the hack.
    let hack = std::fs::read_to_string(workspace().join("workspace-hack/Cargo.toml")).unwrap();
    let pinned = dependencies(&hack);
    for name in ["rustls", "k8s-openapi", "kube", "hyper", "tokio"] {
        assert!(
            pinned
                .lines()
                .any(|line| line.starts_with(&format!("{name} = "))),
            "workspace-hack/Cargo.toml does not pin {name}: run `cargo hakari generate`"
        );
    }
}
