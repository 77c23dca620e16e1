//! `azp-agent-standin`: stand-in for the Azure Pipelines agent (see `azp_ado_emulator::standin`).

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = azp_ado_emulator::standin::main_with_args(args);
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
