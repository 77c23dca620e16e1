//! The Dockerfile cannot be built here (no base image can be pulled), so it is parsed and its
//! promises are checked: pinned versions, non-root users, exec-form ENTRYPOINTs, cache mounts,
//! no shell in the operator image and no Docker daemon in the agent image.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use regex::Regex;

/// One instruction: keyword (upper case) and its arguments, continuation lines joined.
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

/// A build stage: its base image and instructions.
#[derive(Debug, Default)]
struct Stage {
    base: String,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn all(&self, keyword: &str) -> Vec<&str> {
        self.instructions
            .iter()
            .filter(|i| i.keyword == keyword)
            .map(|i| i.args.as_str())
            .collect()
    }

    fn last(&self, keyword: &str) -> Option<&str> {
        self.all(keyword).last().copied()
    }
}

/// The parsed Dockerfile: global ARG defaults and the named stages.
struct Dockerfile {
    global_args: BTreeMap<String, String>,
    stages: BTreeMap<String, Stage>,
}

fn parse(text: &str) -> Dockerfile {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if trimmed.starts_with('#') {
            continue; // comment inside a continued instruction
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    assert!(
        current.is_empty(),
        "the Dockerfile ends inside a continued line"
    );
    let mut global_args = BTreeMap::new();
    let mut stages: BTreeMap<String, Stage> = BTreeMap::new();
    let mut stage: Option<String> = None;
    let from = Regex::new(r"(?i)^(\S+)(?:\s+AS\s+(\S+))?$").unwrap();
    for line in logical {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_uppercase();
        let args = args.trim().to_owned();
        match (&keyword[..], &stage) {
            ("FROM", _) => {
                let args = args
                    .split_whitespace()
                    .filter(|a| !a.starts_with("--platform"))
                    .collect::<Vec<_>>()
                    .join(" ");
                let captures = from
                    .captures(&args)
                    .unwrap_or_else(|| panic!("bad FROM {args}"));
                let name = captures
                    .get(2)
                    .unwrap_or_else(|| panic!("every stage is named: FROM {args}"))
                    .as_str()
                    .to_owned();
                stages.insert(
                    name.clone(),
                    Stage {
                        base: captures[1].to_owned(),
                        instructions: Vec::new(),
                    },
                );
                stage = Some(name);
            }
            ("ARG", None) => {
                let (name, value) = args.split_once('=').unwrap_or((&args, ""));
                global_args.insert(name.to_owned(), value.to_owned());
            }
            (_, None) => panic!("{keyword} before the first FROM"),
            (_, Some(name)) => stages
                .get_mut(name)
                .unwrap()
                .instructions
                .push(Instruction { keyword, args }),
        }
    }
    Dockerfile {
        global_args,
        stages,
    }
}

impl Dockerfile {
    /// A stage's base image with `${ARG}` replaced by the global default.
    fn base(&self, stage: &str) -> String {
        let base = &self.stages[stage].base;
        match base.strip_prefix("${").and_then(|b| b.strip_suffix('}')) {
            Some(arg) => self.global_args[arg].clone(),
            None => base.clone(),
        }
    }
}

fn dockerfile() -> Dockerfile {
    parse(&std::fs::read_to_string(workspace().join("Dockerfile")).unwrap())
}

/// `USER` must name a non-zero numeric uid, so `runAsNonRoot` can verify it without /etc/passwd.
fn assert_non_root(stage: &Stage, name: &str) {
    let user = stage
        .last("USER")
        .unwrap_or_else(|| panic!("{name}: no USER"));
    let uid = user.split(':').next().unwrap();
    let uid: u32 = uid
        .parse()
        .unwrap_or_else(|_| panic!("{name}: USER {user} is not numeric"));
    assert_ne!(uid, 0, "{name} runs as root");
}

/// ENTRYPOINT in exec form (JSON array): signals reach the binary, no shell in between.
fn entrypoint(stage: &Stage, name: &str) -> Vec<String> {
    let raw = stage
        .last("ENTRYPOINT")
        .unwrap_or_else(|| panic!("{name}: no ENTRYPOINT"));
    serde_json::from_str(raw)
        .unwrap_or_else(|_| panic!("{name}: ENTRYPOINT {raw} is not exec form"))
}

#[test]
fn operator_target_is_distroless_non_root_without_a_shell() {
    let file = dockerfile();
    let stage = &file.stages["operator"];
    assert_eq!(
        file.base("operator"),
        "gcr.io/distroless/cc-debian12:nonroot"
    );
    assert_non_root(stage, "operator");
    assert_eq!(entrypoint(stage, "operator"), ["/azp-operator"]);
    // No RUN: the base has no shell, and nothing may need one.
    assert!(stage.all("RUN").is_empty(), "{:?}", stage.all("RUN"));
}

#[test]
fn agent_target_pins_the_official_agent_and_buildkit_and_runs_azp_agent_as_non_root() {
    let file = dockerfile();
    let stage = &file.stages["agent"];
    assert_non_root(stage, "agent");
    assert_eq!(entrypoint(stage, "agent"), ["/usr/local/bin/azp-agent"]);
    assert!(
        file.base("agent").starts_with("debian:"),
        "the .NET agent needs glibc: {}",
        file.base("agent")
    );

    let args: BTreeMap<&str, &str> = stage
        .all("ARG")
        .into_iter()
        .map(|a| a.split_once('=').unwrap_or((a, "")))
        .collect();
    let version = args["AZP_AGENT_VERSION"];
    assert!(
        Regex::new(r"^\d+\.\d+\.\d+$").unwrap().is_match(version),
        "unpinned agent version {version}"
    );
    // The checksum is either a real SHA-256 or deliberately absent, in which case the build must
    // refuse to run without one (it could not be verified offline; see the Dockerfile comment).
    let sha = args["AZP_AGENT_SHA256"];
    let run = stage.all("RUN").join("\n");
    if sha.is_empty() {
        assert!(
            run.contains(r#"test -n "${AZP_AGENT_SHA256}""#),
            "no checksum and no guard"
        );
    } else {
        assert!(
            Regex::new(r"^[0-9a-f]{64}$").unwrap().is_match(sha),
            "bad sha256 {sha}"
        );
    }
    assert!(run.contains("sha256sum -c"), "the tarball is not verified");
    assert!(args["AZP_AGENT_URL"].contains("${AZP_AGENT_VERSION}"));

    // buildctl comes from a pinned rootless BuildKit release, never :latest or :master.
    assert_eq!(file.base("buildkit"), "moby/buildkit:v0.32.2-rootless");
    let copies = stage.all("COPY").join("\n");
    assert!(
        copies.contains("--from=buildkit /usr/bin/buildctl"),
        "{copies}"
    );
    assert!(copies.contains("--from=build /out/azp-agent"), "{copies}");
    // No Docker daemon in the image.
    for banned in ["docker.io", "docker-ce", "dockerd", "containerd"] {
        assert!(!run.contains(banned), "agent image installs {banned}");
    }
}

#[test]
fn rust_build_uses_cache_mounts_and_the_locked_lockfile() {
    let file = dockerfile();
    let run = file.stages["build"].all("RUN").join("\n");
    assert!(
        run.contains("--mount=type=cache,target=/usr/local/cargo/registry"),
        "{run}"
    );
    assert!(
        run.contains("--mount=type=cache,target=/src/target"),
        "{run}"
    );
    assert!(run.contains("--locked"), "{run}");
    let rust = file.base("build");
    assert!(
        Regex::new(r"^rust:\d+\.\d+").unwrap().is_match(&rust),
        "unpinned Rust image {rust}"
    );
}

#[test]
fn every_base_image_is_pinned() {
    let file = dockerfile();
    for name in file.stages.keys() {
        let base = file.base(name);
        let tag = base.rsplit_once(':').map(|(_, tag)| tag).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest" && !tag.starts_with("master"),
            "{name}: {base}"
        );
    }
}

#[test]
fn the_parser_notices_a_root_user_and_a_shell_form_entrypoint() {
    // Guards the checks above: they fail on a Dockerfile that breaks the rules.
    let bad = parse(
        "FROM debian:bookworm-slim AS agent\nUSER root\nENTRYPOINT /usr/local/bin/azp-agent run\n",
    );
    let stage = &bad.stages["agent"];
    assert!(std::panic::catch_unwind(|| assert_non_root(stage, "agent")).is_err());
    assert!(std::panic::catch_unwind(|| entrypoint(stage, "agent")).is_err());
}

#[test]
fn dockerignore_keeps_build_output_and_caches_out_of_the_context() {
    let ignore = std::fs::read_to_string(workspace().join(".dockerignore")).unwrap();
    let lines: Vec<&str> = ignore.lines().map(str::trim).collect();
    for entry in ["target/", ".cache/", ".git/"] {
        assert!(lines.contains(&entry), "{entry} is not in .dockerignore");
    }
}

#[test]
fn chart_runs_the_operator_as_the_images_user() {
    // runAsNonRoot needs a numeric uid; the chart and the image must agree on it.
    let file = dockerfile();
    let user = file.stages["operator"].last("USER").unwrap();
    let uid: i64 = user.split(':').next().unwrap().parse().unwrap();
    let helm = Helm::new();
    let docs = documents(&helm.render(&[], &[]));
    let pod = &of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], uid);
}
