//! The `guard` command as a library: `main.rs` only calls [`main`], and fuzz targets and tests
//! drive the same line handlers the command runs ([`CheckStream`], [`scan_line`], [`Lines`]).
//!
//! One output line per input line, in order, flushed line by line. Exit status: 0 all lines
//! fine, 1 some lines malformed, 2 usage / policy / I/O error.

mod baseline;
mod check;
mod dashboard;
mod eval;
mod io;
mod replay;
mod scan_cmd;
mod time;
mod train;

use std::process::ExitCode;

pub use check::CheckStream;
pub use io::{Line, Lines, MAX_LINE_BYTES};
pub use scan_cmd::scan_line;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "guard",
    version,
    about = "Guard an AI support agent: scan messages, check tool calls."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan messages for prompt injection (JSON Lines in, JSON Lines out).
    Scan(scan_cmd::Args),
    /// Check tool calls, messages, settlements and approvals as one stateful stream.
    Check(check::Args),
    /// Measure the scanner on labelled JSON Lines files or directories.
    Eval(eval::Args),
    /// Fit a shape baseline from a deployment's own benign messages.
    Baseline(baseline::Args),
    /// Train the scanner's learned detector on labelled JSON Lines.
    Train(train::Args),
    /// Serve a live, read-only dashboard of an audit file (loopback only by default).
    Dashboard(dashboard::Args),
    /// Re-decide an audit trail under a candidate blueprint and report what would change.
    Replay(replay::Args),
}

/// Parses the command line and runs the subcommand.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Scan(args) => scan_cmd::run(args),
        Command::Check(args) => check::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Baseline(args) => baseline::run(args),
        Command::Train(args) => train::run(args),
        Command::Dashboard(args) => dashboard::run(args),
        Command::Replay(args) => replay::run(args),
    }
}
