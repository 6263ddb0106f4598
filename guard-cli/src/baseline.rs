use std::process::ExitCode;

/// Arguments (not implemented yet).
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("guard: not implemented yet");
    ExitCode::from(2)
}
