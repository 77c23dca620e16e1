//! Process exit codes of `ecr-login`, `build-push` and `preflight`, documented in
//! `agent/README.md`. `run` uses `azp_contract::run_exit`, which the operator reads.

/// Everything worked.
pub const OK: u8 = 0;
/// The command failed (AWS, registry, build or I/O error); the message says why.
pub const FAILED: u8 = 1;
/// Bad command line (clap's own code).
pub const USAGE: u8 = 2;
/// `preflight`: at least one check failed.
pub const PREFLIGHT_FAILED: u8 = 3;
// `run` has its own codes (10-16): `azp_contract::run_exit`.
