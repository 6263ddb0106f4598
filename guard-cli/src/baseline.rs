//! `guard baseline fit FILE --out OUT`: fit a shape baseline from a deployment's own benign
//! messages (JSON Lines with a `text` field).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use guard_core::scan::ShapeBaseline;
use guard_core::{Blueprint, Scanner};

/// Arguments of `guard baseline`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Fit a baseline from benign JSON Lines (`text` field; rows labelled `attack` are skipped).
    Fit {
        /// JSON Lines file of benign messages.
        input: PathBuf,
        /// Where to write the baseline (JSON); reference it as `scanner.baseline`.
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(args: Args) -> ExitCode {
    match args.command {
        Command::Fit { input, out } => match fit(&input, &out) {
            Ok(n) => {
                eprintln!(
                    "guard baseline: fitted on {n} messages, wrote {}",
                    out.display()
                );
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("guard baseline: {message}");
                ExitCode::from(2)
            }
        },
    }
}

fn fit(input: &PathBuf, out: &PathBuf) -> Result<usize, String> {
    let bp = Blueprint::embedded_default().map_err(|e| e.to_string())?;
    let scanner = Scanner::new(bp.scanner()).map_err(|e| e.to_string())?;
    let file =
        std::fs::File::open(input).map_err(|e| format!("cannot open {}: {e}", input.display()))?;
    let mut texts = Vec::new();
    let mut skipped = 0usize;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", input.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("guard baseline: line {}: invalid JSON: {e}", n + 1);
                skipped += 1;
                continue;
            }
        };
        if value.get("label").and_then(|l| l.as_str()) == Some("attack") {
            continue;
        }
        match value.get("text").and_then(|t| t.as_str()) {
            Some(t) => texts.push(t.to_owned()),
            None => skipped += 1,
        }
    }
    if skipped > 0 {
        eprintln!("guard baseline: skipped {skipped} lines without a text");
    }
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let baseline = ShapeBaseline::fit(&scanner, texts.iter().map(String::as_str), &name)
        .map_err(|e| e.to_string())?;
    std::fs::write(out, baseline.to_json() + "\n")
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(baseline.count())
}
