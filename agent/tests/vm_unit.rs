//! `examples/vm/azp-agent.service` passes `systemd-analyze verify` (Debian's `systemd` package,
//! installed by `make peers`), with azp-agent at the path the unit names replaced by this
//! build's binary (verify checks that the program exists).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

const AGENT: &str = env!("CARGO_BIN_EXE_azp-agent");
const INSTALLED_AT: &str = "/usr/local/bin/azp-agent";

fn unit_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/vm/azp-agent.service");
    std::fs::read_to_string(path).unwrap()
}

/// Everything `systemd-analyze verify` prints about `text` as a unit file, and its status.
fn verify(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let unit: PathBuf = dir.path().join("azp-agent.service");
    std::fs::write(&unit, text).unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap_or_else(|error| {
            panic!("systemd-analyze: {error}; install Debian's systemd package (make peers)")
        });
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

#[test]
fn the_vm_unit_passes_systemd_analyze_verify_and_restarts_always() {
    let text = unit_text();
    assert!(
        text.contains(&format!("ExecStart={INSTALLED_AT} vm")),
        "{text}"
    );
    for expected in [
        "Restart=always",
        "KillMode=mixed",
        "AZP_RUN_AS_USER=azp-job",
    ] {
        assert!(text.contains(expected), "unit lacks {expected}");
    }
    let local = text.replace(INSTALLED_AT, AGENT);
    let (ok, said) = verify(&local);
    assert!(
        ok && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );

    // The check is strict: a setting systemd cannot parse is reported.
    let (_, said) = verify(&local.replace("KillMode=mixed", "KillMode=sometimes"));
    assert!(
        said.contains("KillMode") || said.contains("kill mode"),
        "{said}"
    );
}
