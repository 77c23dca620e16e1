//! Entry point of the `azp-agent-standin` binary:
//! `azp-agent-standin install DIR` or `azp-agent-standin [--root DIR] configure|remove|run [agent args]`.

use std::path::{Path, PathBuf};

use super::args::{AgentArgs, CONFIGURE_SPEC, REMOVE_SPEC, RUN_SPEC};
use super::console;
use super::settings::AgentRoot;
use super::{configure, install, listener, remove};

const USAGE: &str = "usage: azp-agent-standin install DIR\n       azp-agent-standin [--root DIR] configure|remove|run [agent arguments]\n       azp-agent-standin buildkitd --socket PATH [--start-delay-ms N]";

/// Runs the command line `args` (without the program name); returns the exit code.
pub fn main_with_args(args: Vec<String>) -> i32 {
    let mut rest = args.as_slice();
    let mut root_dir: Option<PathBuf> = None;
    if let [flag, dir, tail @ ..] = rest
        && flag == "--root"
    {
        root_dir = Some(PathBuf::from(dir));
        rest = tail;
    }
    let Some((command, agent_args)) = rest.split_first() else {
        console::error(USAGE);
        return 1;
    };
    if command == "install" {
        return run_install(agent_args);
    }
    if command == "buildkitd" {
        return super::buildkitd::run(agent_args);
    }
    let spec = match command.as_str() {
        "configure" => CONFIGURE_SPEC,
        "remove" => REMOVE_SPEC,
        "run" => RUN_SPEC,
        _ => {
            console::error(USAGE);
            return 1;
        }
    };
    let root = AgentRoot::new(root_dir.unwrap_or_else(|| PathBuf::from(".")));
    let _log_guard = init_diag_log(root.dir(), command);
    let parsed = match AgentArgs::parse(&spec, agent_args, |name| std::env::var(name).ok()) {
        Ok(parsed) => parsed,
        Err(err) => {
            console::error(&err.to_string());
            return 1;
        }
    };
    tracing::info!(command = %command, args = ?parsed, "starting");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            console::error(&format!("cannot start the async runtime: {err}"));
            return 1;
        }
    };
    runtime.block_on(async {
        let outcome = match command.as_str() {
            "configure" => configure::configure(&root, &parsed).await,
            "remove" => remove::remove(&root, &parsed).await,
            _ => return listener::run(&root, &parsed).await,
        };
        match outcome {
            Ok(()) => 0,
            Err(err) => {
                tracing::error!(%err, "{command} failed");
                console::error(&format!("error: {err}"));
                1
            }
        }
    })
}

fn run_install(args: &[String]) -> i32 {
    let [dir] = args else {
        console::error(USAGE);
        return 1;
    };
    let binary = match std::env::current_exe().and_then(|path| path.canonicalize()) {
        Ok(path) => path,
        Err(err) => {
            console::error(&format!("cannot locate this binary: {err}"));
            return 1;
        }
    };
    match install::install(Path::new(dir), &binary) {
        Ok(()) => {
            console::info(&format!("installed azp-agent-standin scripts in {dir}"));
            0
        }
        Err(err) => {
            console::error(&format!("error: {err}"));
            1
        }
    }
}

/// Logs go to `_diag/Agent_<time>-utc.log` like the real agent's; stdout stays for the user.
/// Filter with `AZP_STANDIN_LOG` (default `info`).
fn init_diag_log(root: &Path, command: &str) -> Option<()> {
    let diag = root.join("_diag");
    std::fs::create_dir_all(&diag).ok()?;
    let name = format!(
        "Agent_{}_{}-utc.log",
        command,
        chrono::Utc::now().format("%Y%m%d-%H%M%S%.3f")
    );
    let file = std::fs::File::create(diag.join(name)).ok()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("AZP_STANDIN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .ok()
}
