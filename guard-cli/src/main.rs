//! `guard`: scan messages and check tool calls as JSON Lines (see the library crate).

fn main() -> std::process::ExitCode {
    guard_cli::main()
}
