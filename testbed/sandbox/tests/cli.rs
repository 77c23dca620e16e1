//! The command line: `--help` explains every subcommand and flag; bad flags exit 2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn sandbox(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_azp-sandbox"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn help_lists_the_subcommands_and_their_flags() {
    let top = sandbox(&["--help"]);
    assert!(top.status.success());
    let text = String::from_utf8(top.stdout).unwrap();
    for sub in ["demo", "bench", "chaos", "up", "queue"] {
        assert!(text.contains(sub), "{text}");
    }
    let chaos = String::from_utf8(sandbox(&["chaos", "--help"]).stdout).unwrap();
    for flag in [
        "--seed",
        "--duration",
        "--settle-timeout",
        "--fault-interval",
        "--keep",
    ] {
        assert!(chaos.contains(flag), "{chaos}");
    }
    let demo = String::from_utf8(sandbox(&["demo", "--help"]).stdout).unwrap();
    for flag in ["--no-hooks", "--min-poll-spacing-ms", "--settle-timeout"] {
        assert!(demo.contains(flag), "{demo}");
    }
}

#[test]
fn an_unknown_flag_is_refused_with_exit_code_2() {
    let out = sandbox(&["chaos", "--sede", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sede"));
}
