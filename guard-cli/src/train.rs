//! `guard train --out MODEL FILES_OR_DIRS...`: train the scanner's learned detector on labelled
//! JSON Lines (`text`, `label` = attack|benign, `id`) and print leave-one-file-out results.
//!
//! Rows whose `id` falls in `guard eval`'s holdout split are left out of training unless
//! `--include-holdout` is given, so `guard eval --split holdout` keeps measuring unseen rows.
//! Training is deterministic: the same files in the same order give the same model bytes.

use std::path::PathBuf;
use std::process::ExitCode;

use guard_core::scan::learned::{self, Example, Prepared, TrainOptions};
use guard_core::scan::LearnedModel;

use crate::eval::{files, in_holdout, read_rows};

/// Arguments of `guard train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Labelled JSON Lines files, or directories of `*.jsonl` files (read in the order given,
    /// directories sorted by name).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Where to write the model; reference it as `scanner.model`.
    #[arg(long)]
    out: PathBuf,
    /// Also train on rows in `guard eval`'s holdout split.
    #[arg(long)]
    include_holdout: bool,
    /// Skip the leave-one-file-out table.
    #[arg(long)]
    no_lofo: bool,
    /// Write each leave-one-file-out model to this directory (`lofo-FILE.bin`), to evaluate
    /// them with `guard eval`.
    #[arg(long, hide = true)]
    lofo_models: Option<PathBuf>,
    /// Passes over the data.
    #[arg(long, default_value_t = TrainOptions::default().epochs)]
    epochs: usize,
    /// L2 penalty per update.
    #[arg(long, default_value_t = TrainOptions::default().l2)]
    l2: f64,
    /// Step size.
    #[arg(long, default_value_t = TrainOptions::default().learning_rate)]
    learning_rate: f64,
    /// Weight of the attack class relative to the benign class.
    #[arg(long, default_value_t = TrainOptions::default().attack_mass)]
    attack_mass: f64,
}

pub fn run(args: Args) -> ExitCode {
    match run_inner(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("guard train: {message}");
            ExitCode::from(2)
        }
    }
}

fn run_inner(args: &Args) -> Result<(), String> {
    let opts = TrainOptions {
        epochs: args.epochs,
        l2: args.l2,
        learning_rate: args.learning_rate,
        attack_mass: args.attack_mass,
        ..TrainOptions::default()
    };
    let mut malformed = 0u64;
    let mut examples = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut skipped_holdout = 0usize;
    for f in files(&args.paths)? {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if names.contains(&name) {
            return Err(format!("two input files are named {name}"));
        }
        names.push(name.clone());
        for r in read_rows(&f, &mut malformed)? {
            if !args.include_holdout && in_holdout(&r.id) {
                skipped_holdout += 1;
                continue;
            }
            examples.push(Example {
                text: r.text,
                attack: r.attack,
                group: name.clone(),
            });
        }
    }
    if malformed > 0 {
        return Err(format!("{malformed} malformed rows; fix them first"));
    }
    let attacks = examples.iter().filter(|e| e.attack).count();
    if attacks == 0 || attacks == examples.len() {
        return Err("training needs both attack and benign rows".into());
    }
    eprintln!(
        "guard train: {} rows ({attacks} attacks) from {} files; {skipped_holdout} holdout rows left out",
        examples.len(),
        names.len()
    );
    let prepared = learned::prepare(&examples, &opts).map_err(|e| e.to_string())?;
    if !args.no_lofo {
        lofo(&prepared, &names, &opts, args.lofo_models.as_ref())?;
    }
    let all: Vec<&Prepared> = prepared.iter().collect();
    let model = learned::train(&all, &opts);
    let bytes = model.to_bytes();
    std::fs::write(&args.out, &bytes)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    eprintln!(
        "guard train: wrote {} ({} bytes, {} buckets, fnv64 {:016x})",
        args.out.display(),
        bytes.len(),
        model.buckets(),
        fnv64(&bytes)
    );
    Ok(())
}

fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn rate(k: usize, n: usize) -> String {
    if n == 0 {
        "-".into()
    } else {
        format!("{:5.1}% ({k}/{n})", 100.0 * k as f64 / n as f64)
    }
}

/// Trains once per file without it and scores the left-out file: what the model does on
/// traffic from a source it never saw.
fn lofo(
    prepared: &[Prepared],
    names: &[String],
    opts: &TrainOptions,
    save: Option<&PathBuf>,
) -> Result<(), String> {
    println!("leave-one-file-out (train on the other files, test on this one)");
    println!(
        "{:<26} {:<22} {:<22} {:<22} {:<22}",
        "left out", "detect p>=0.5", "FP p>=0.5", "detect p>=0.9", "FP p>=0.9"
    );
    for name in names {
        let train: Vec<&Prepared> = prepared.iter().filter(|p| p.group() != name).collect();
        let test: Vec<&Prepared> = prepared.iter().filter(|p| p.group() == name).collect();
        let attacks_in_train = train.iter().filter(|p| p.attack()).count();
        if test.is_empty() || attacks_in_train == 0 || attacks_in_train == train.len() {
            println!("{name:<26} (skipped: the other files lack a class)");
            continue;
        }
        let model: LearnedModel = learned::train(&train, opts);
        if let Some(dir) = save {
            let path = dir.join(format!("lofo-{name}.bin"));
            std::fs::write(&path, model.to_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        let mut counts = [[0usize; 2]; 2]; // [threshold][attack hits, benign hits]
        let (mut na, mut nb) = (0usize, 0usize);
        for p in &test {
            let prob = model.predict(p);
            if p.attack() {
                na += 1;
            } else {
                nb += 1;
            }
            for (t, threshold) in [0.5, 0.9].iter().enumerate() {
                if prob >= *threshold {
                    if let Some(c) = counts.get_mut(t) {
                        if let Some(x) = c.get_mut(usize::from(!p.attack())) {
                            *x += 1;
                        }
                    }
                }
            }
        }
        let [[d5, f5], [d9, f9]] = counts;
        println!(
            "{:<26} {:<22} {:<22} {:<22} {:<22}",
            name,
            rate(d5, na),
            rate(f5, nb),
            rate(d9, na),
            rate(f9, nb)
        );
    }
    println!();
    Ok(())
}
