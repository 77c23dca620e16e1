//! The Dockerfile's production path cannot be built here (no base image can be pulled; the
//! offline build of the same stages is testbed/pod-docker's), so it is parsed and its promises
//! are checked: pinned versions, non-root users, exec-form ENTRYPOINTs, cache mounts, no shell
//! in the operator image, no Docker daemon in the agent image, which stages the build
//! arguments select, and the agent download's architecture selection, run under `sh`.
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
    /// A stage's base image with the global ARG defaults substituted.
    fn base(&self, stage: &str) -> String {
        self.base_with(stage, &[])
    }

    /// A stage's base with `--build-arg`s `overrides` on top of the global defaults:
    /// `${X}`, `${X:+word}` (word when X is non-empty) and `${X:-word}` (word when X is empty).
    fn base_with(&self, stage: &str, overrides: &[(&str, &str)]) -> String {
        let value = |name: &str| -> String {
            overrides
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| self.global_args.get(name).cloned())
                .unwrap_or_else(|| panic!("FROM of {stage} uses undeclared ARG {name}"))
        };
        let reference = Regex::new(r"\$\{(\w+)(?::([+-])([^}]*))?\}").unwrap();
        reference
            .replace_all(&self.stages[stage].base, |c: &regex::Captures| {
                let current = value(&c[1]);
                match c.get(2).map(|m| m.as_str()) {
                    None => current,
                    Some("+") if current.is_empty() => String::new(),
                    Some("+") => c[3].to_owned(),
                    Some(_) if current.is_empty() => c[3].to_owned(),
                    Some(_) => current,
                }
            })
            .into_owned()
    }

    /// Whether `base` names another stage of this file (or `scratch`) rather than an image.
    fn is_stage_or_scratch(&self, base: &str) -> bool {
        base == "scratch" || self.stages.contains_key(base)
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

    let download = &file.stages["agent-tarball"];
    let args: BTreeMap<&str, &str> = download
        .all("ARG")
        .into_iter()
        .map(|a| a.split_once('=').unwrap_or((a, "")))
        .collect();
    let version = args["AZP_AGENT_VERSION"];
    assert!(
        Regex::new(r"^\d+\.\d+\.\d+$").unwrap().is_match(version),
        "unpinned agent version {version}"
    );
    // Each checksum is either a real SHA-256 or deliberately absent, in which case the build
    // refuses to run without one (see agent_download_selects_the_tarball_by_targetarch).
    let sha256 = Regex::new(r"^[0-9a-f]{64}$").unwrap();
    for arch in ["AMD64", "ARM64"] {
        let sha = args[format!("AZP_AGENT_SHA256_{arch}").as_str()];
        assert!(sha.is_empty() || sha256.is_match(sha), "bad sha256 {sha}");
    }
    assert!(args.contains_key("TARGETARCH"), "{args:?}");
    let run = download.all("RUN").join("\n");
    assert!(run.contains("sha256sum -c"), "the tarball is not verified");
    assert!(args["AZP_AGENT_URL"].contains("${AZP_AGENT_VERSION}"));

    // buildctl comes from a pinned rootless BuildKit release, never :latest or :master.
    assert_eq!(
        file.base("buildkit-release"),
        "moby/buildkit:v0.32.2-rootless"
    );
    let copies = stage.all("COPY").join("\n");
    assert!(
        copies.contains("--from=buildkit-binaries /usr/bin/buildctl"),
        "{copies}"
    );
    assert!(
        copies.contains("--from=binaries /out/azp-agent"),
        "{copies}"
    );
    // uid 1000 owns the agent home (Microsoft's agent writes its registration there).
    let agent_run = stage.all("RUN").join("\n");
    assert!(agent_run.contains("chown -R 1000:1000 /azp"), "{agent_run}");
    // No Docker daemon in the image.
    for banned in ["docker.io", "docker-ce", "dockerd", "containerd"] {
        assert!(!agent_run.contains(banned), "agent image installs {banned}");
    }
}

#[test]
fn build_arguments_select_the_offline_stages_and_default_to_production() {
    let file = dockerfile();
    // Production defaults: compile in the Rust stage, download the agent, BuildKit's release image.
    assert_eq!(file.base("binaries"), "build");
    assert_eq!(file.base("agent-dist"), "agent-tarball");
    assert_eq!(file.base("buildkit-binaries"), "buildkit-release");
    // What scripts/build-images.sh passes.
    assert_eq!(
        file.base_with("binaries", &[("PREBUILT_DIR", "bin")]),
        "build-prebuilt"
    );
    assert_eq!(
        file.base_with("agent-dist", &[("AZP_AGENT_TARBALL", "agent.tar.gz")]),
        "agent-tarball-local"
    );
    assert_eq!(
        file.base_with("buildkit-binaries", &[("BUILDKIT_DIR", "buildkit")]),
        "buildkit-release-local"
    );
    for stage in ["binaries", "agent-dist", "buildkit-binaries"] {
        assert!(file.stages.contains_key(&file.base(stage)), "{stage}");
    }
    let script = std::fs::read_to_string(workspace().join("scripts/build-images.sh")).unwrap();
    for arg in [
        "PREBUILT_DIR=bin",
        "AZP_AGENT_TARBALL=agent.tar.gz",
        "BUILDKIT_DIR=buildkit",
        "AGENT_BASE=",
        "OPERATOR_BASE=",
    ] {
        assert!(script.contains(&format!("--build-arg {arg}")), "{arg}");
    }
}

/// Runs the agent download step (the `RUN` with the `case` on TARGETARCH) under `sh` with a
/// `curl` that records its URL and writes fixed bytes; `/out` becomes a temp directory.
fn run_download(targetarch: &str, sha_amd64: &str, sha_arm64: &str) -> (bool, String, String) {
    let file = dockerfile();
    let stage = &file.stages["agent-tarball"];
    let script = stage
        .all("RUN")
        .into_iter()
        .find(|r| r.contains("TARGETARCH"))
        .expect("a RUN selects by TARGETARCH")
        .to_owned();
    let args: BTreeMap<&str, &str> = stage
        .all("ARG")
        .into_iter()
        .map(|a| a.split_once('=').unwrap_or((a, "")))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let curl = bin.join("curl");
    std::fs::write(
        &curl,
        "#!/bin/sh\n# -fsSLo FILE URL\nprintf '%s\\n' \"$3\" >> \"$CURL_LOG\"\nprintf 'agent-tarball-bytes' > \"$2\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&curl, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = dir.path().join("out");
    let script = script.replace("/out", &out.display().to_string());
    let version = args["AZP_AGENT_VERSION"];
    let url = args["AZP_AGENT_URL"].replace("${AZP_AGENT_VERSION}", version);
    let log = dir.path().join("curl.log");
    let output = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("CURL_LOG", &log)
        .env("TARGETARCH", targetarch)
        .env("AZP_AGENT_VERSION", version)
        .env("AZP_AGENT_URL", url)
        .env("AZP_AGENT_SHA256_AMD64", sha_amd64)
        .env("AZP_AGENT_SHA256_ARM64", sha_arm64)
        .output()
        .unwrap();
    (
        output.status.success(),
        std::fs::read_to_string(&log).unwrap_or_default(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn agent_download_selects_the_tarball_by_targetarch_and_checks_its_sha256() {
    // The SHA-256 of what the stand-in curl writes.
    let output = std::process::Command::new("sh")
        .args([
            "-c",
            "printf agent-tarball-bytes | sha256sum | cut -d' ' -f1",
        ])
        .output()
        .unwrap();
    let actual = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let wrong = "0".repeat(64);
    let version = "4.261.0";

    let (ok, urls, stderr) = run_download("arm64", &wrong, &actual);
    assert!(ok, "{stderr}");
    assert_eq!(
        urls.trim(),
        format!(
            "https://download.agent.dev.azure.com/agent/{version}/vsts-agent-linux-arm64-{version}.tar.gz"
        )
    );
    let (ok, urls, stderr) = run_download("amd64", &actual, &wrong);
    assert!(ok, "{stderr}");
    assert!(
        urls.trim()
            .ends_with(&format!("/vsts-agent-linux-x64-{version}.tar.gz")),
        "{urls}"
    );

    // The other architecture's checksum does not pass: each is checked against its own.
    let (ok, _, stderr) = run_download("arm64", &actual, &wrong);
    assert!(!ok, "arm64 accepted the amd64 checksum: {stderr}");
    // No checksum, no build; an unknown architecture fails before downloading.
    let (ok, urls, stderr) = run_download("arm64", &actual, "");
    assert!(!ok && urls.is_empty(), "{urls}");
    assert!(stderr.contains("AZP_AGENT_SHA256_ARM64"), "{stderr}");
    let (ok, urls, stderr) = run_download("s390x", &actual, &actual);
    assert!(!ok && urls.is_empty(), "{urls}");
    assert!(stderr.contains("TARGETARCH=s390x"), "{stderr}");
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
        if file.is_stage_or_scratch(&base) {
            continue;
        }
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
