//! Exit codes of `azp-agent run`, which the operator reads from the terminated container.
//!
//! The job's own result is in the [`crate::TerminationMessage`]; the exit code says which
//! path the entrypoint took, and above all whether a registration may have been left behind.

/// The agent registered, `run.sh --once` finished, and the registration was removed. The
/// job's result (succeeded, failed, canceled, or no job) is in the termination message.
pub const JOB_DONE: i32 = 0;
/// `azp-agent register`: the agent is registered and its registration handed over to the
/// `agent` container (the same value as [`JOB_DONE`]: the process did what it is for).
pub const REGISTERED: i32 = 0;
/// Configuration error (missing or empty PAT file, missing URL or pool, bad capabilities JSON).
/// Nothing was registered.
pub const CONFIG_ERROR: i32 = 10;
/// A preflight check failed; the message carries the check's fix. Nothing was registered.
pub const PREFLIGHT_FAILED: i32 = 11;
/// `config.sh` failed. Any partial registration was removed.
pub const REGISTRATION_FAILED: i32 = 12;
/// `run.sh` crashed, was killed, or exited with an error code (1, 2, an unknown code, or a
/// second "updating" code). The registration was removed (by the operator when it was
/// handed over by `azp-agent register`: the `agent` container then has no PAT).
pub const AGENT_FAILED: i32 = 13;
/// SIGTERM or SIGINT stopped the run (at any phase). The registration was removed.
pub const TERMINATED: i32 = 14;
/// Deregistration failed after its retries: the registration is left behind and the
/// operator's sweep must remove it. Takes precedence over every other code.
pub const DEREGISTRATION_FAILED: i32 = 15;
/// ECR login failed. Nothing was registered.
pub const ECR_LOGIN_FAILED: i32 = 16;
