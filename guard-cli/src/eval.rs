//! `guard eval FILES_OR_DIRS... [--json] [--split tune|holdout|all] [--learned on|off]
//! [--timing]`: measure the scanner on labelled JSON Lines (`text`, `label` = attack|benign,
//! `kind`), and with `--timing` how long each row took to scan.
//!
//! Rows are split deterministically by a hash of their `id` (FNV-1a, one in five to the
//! holdout) so tuning can look at `tune` while `holdout` stays unseen. Rows whose `kind`
//! mentions `tool_output` or `indirect` (or whose `source` is `"tool_output"`) are scanned as
//! tool output; everything else as a customer message.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use guard_core::{ModelChoice, Scanner, Source};
use guard_evasion::Chain;
use serde_json::{json, Value as Json};

use crate::io::load_policy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Learned {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Split {
    Tune,
    Holdout,
    All,
}

/// Arguments of `guard eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Labelled JSON Lines files, or directories of `*.jsonl` files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Blueprint file (default: the embedded default blueprint).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Print one JSON document instead of tables.
    #[arg(long)]
    json: bool,
    /// Which rows to measure: `all` reports tune and holdout separately as well.
    #[arg(long, value_enum, default_value = "all")]
    split: Split,
    /// Run the learned detector (`on`: the blueprint's `scanner.model`; `off`: without it).
    #[arg(long, value_enum, default_value = "on")]
    learned: Learned,
    /// Rewrite every row with an evasion transform before scanning, seeded by the row id:
    /// random_case, leetspeak, homoglyph, fullwidth, zero_width, letter_spacing, emoji,
    /// line_split, base64, comment_hide, tag_smuggle, split_session; or two joined with `+`
    /// (e.g. leetspeak+split_session). split_session sends each row as two messages of one
    /// session; a row counts as blocked when either message is.
    #[arg(long, value_name = "NAME[+NAME]")]
    transform: Option<String>,
    /// Also time every scan (one call per row, after an untimed pass over all rows) and
    /// print the latency per file: median, p90, p99 and maximum in microseconds, beside the
    /// median row size. Real traffic instead of the benches' synthetic messages.
    #[arg(long)]
    timing: bool,
    /// Write per-row scores (risk without the learned detector, model probability) as JSON
    /// Lines to this file, for tuning the fusion.
    #[arg(long, hide = true)]
    dump_scores: Option<PathBuf>,
    /// Print up to N misclassified rows of the selected split to standard error.
    #[arg(long, hide = true, default_value_t = 0)]
    errors: usize,
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(crate) fn in_holdout(id: &str) -> bool {
    fnv1a(id) % 5 == 0
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    attacks: u64,
    detected: u64,
    benign: u64,
    false_positives: u64,
}

impl Tally {
    fn add(&mut self, attack: bool, blocked: bool) {
        if attack {
            self.attacks += 1;
            self.detected += u64::from(blocked);
        } else {
            self.benign += 1;
            self.false_positives += u64::from(blocked);
        }
    }
}

/// 95% Wilson score interval for `k` successes out of `n`.
fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_964f64;
    let n = n as f64;
    let p = k as f64 / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

pub(crate) fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect();
            entries.sort();
            out.extend(entries);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) text: String,
    pub(crate) attack: bool,
    pub(crate) kind: String,
    pub(crate) source: Source,
}

pub(crate) fn read_rows(path: &Path, malformed: &mut u64) -> Result<Vec<Row>, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut rows = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Option<Row> = serde_json::from_str::<Json>(&line).ok().and_then(|v| {
            let text = v.get("text")?.as_str()?.to_owned();
            let attack = match v.get("label")?.as_str()? {
                "attack" => true,
                "benign" => false,
                _ => return None,
            };
            let kind = v
                .get("kind")
                .and_then(Json::as_str)
                .unwrap_or("unspecified")
                .to_owned();
            let id = match v.get("id") {
                Some(Json::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => format!("{}:{}", path.display(), n + 1),
            };
            let tool = v.get("source").and_then(Json::as_str) == Some("tool_output")
                || kind.contains("tool_output")
                || kind.contains("indirect");
            Some(Row {
                id,
                text,
                attack,
                kind,
                source: if tool {
                    Source::ToolOutput
                } else {
                    Source::Customer
                },
            })
        });
        match parsed {
            Some(r) => rows.push(r),
            None => {
                *malformed += 1;
                eprintln!(
                    "guard eval: {}:{}: not a labelled row",
                    path.display(),
                    n + 1
                );
            }
        }
    }
    Ok(rows)
}

type Table = BTreeMap<(String, String), [Tally; 3]>;

pub fn run(args: Args) -> ExitCode {
    match run_inner(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("guard eval: {message}");
            ExitCode::from(2)
        }
    }
}

fn run_inner(args: &Args) -> Result<bool, String> {
    let chain = args.transform.as_deref().map(Chain::parse).transpose()?;
    let blueprint = load_policy(args.policy.as_ref())?;
    let mut policy = blueprint.scanner().clone();
    if args.learned == Learned::Off {
        policy = policy.with_model(ModelChoice::Off);
    }
    let scanner = Scanner::new(&policy).map_err(|e| e.to_string())?;
    let mut dump = match &args.dump_scores {
        Some(path) => Some((
            std::io::BufWriter::new(
                std::fs::File::create(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
            ),
            Scanner::new(&blueprint.scanner().clone().with_model(ModelChoice::Off))
                .map_err(|e| e.to_string())?,
            Scanner::new(blueprint.scanner()).map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    let mut malformed = 0u64;
    let mut all_rows = Vec::new();
    for f in files(&args.paths)? {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for r in read_rows(&f, &mut malformed)? {
            all_rows.push((name.clone(), r));
        }
    }
    let total = all_rows.len();
    let progress = total > 2000 && std::io::stderr().is_terminal();
    let mut table: Table = BTreeMap::new();
    let mut timing: BTreeMap<String, Vec<(Duration, usize)>> = BTreeMap::new();
    if args.timing {
        // Every row once, untimed: otherwise the first rows of each kind pay for cold caches
        // and lazily built tables, and the tails measure the warm-up.
        for (_, row) in &all_rows {
            std::hint::black_box(scanner.scan(&row.text, row.source));
        }
    }
    let mut errors_left = args.errors;
    for (i, (file, row)) in all_rows.iter().enumerate() {
        if progress && i % 500 == 0 {
            let filled = i * 30 / total.max(1);
            eprint!(
                "\r[{}{}] {i}/{total}",
                "#".repeat(filled),
                " ".repeat(30 - filled)
            );
        }
        let holdout = in_holdout(&row.id);
        let selected = match args.split {
            Split::Tune => !holdout,
            Split::Holdout => holdout,
            Split::All => true,
        };
        if !selected {
            continue;
        }
        // A transformed row may be a session of several messages: it counts as blocked when
        // any of them is, as `Guard::scan_message` would have stopped it there.
        let (blocked, verdict, elapsed, bytes) = match &chain {
            Some(chain) => {
                let sample = chain.apply(&row.id, &row.text);
                let start = Instant::now();
                let blocked = guard_evasion::blocked(&scanner, &sample, row.source);
                let bytes =
                    sample.history.iter().map(String::len).sum::<usize>() + sample.message.len();
                (blocked, None, start.elapsed(), bytes)
            }
            None => {
                let start = Instant::now();
                let v = scanner.scan(&row.text, row.source);
                let elapsed = start.elapsed();
                (v.blocked(), Some(v), elapsed, row.text.len())
            }
        };
        if args.timing {
            timing
                .entry(file.clone())
                .or_default()
                .push((elapsed, bytes));
        }
        if let Some((w, off, on)) = dump.as_mut() {
            let line = json!({
                "file": file, "id": row.id, "kind": row.kind, "attack": row.attack,
                "holdout": holdout, "risk_off": off.scan(&row.text, row.source).risk(),
                "p": on.learned_probability(&row.text, row.source),
            });
            writeln!(w, "{line}").map_err(|e| format!("cannot write scores: {e}"))?;
        }
        if let (true, Some(verdict)) = (errors_left > 0 && blocked != row.attack, &verdict) {
            errors_left -= 1;
            let sig: Vec<String> = verdict
                .signals()
                .iter()
                .take(4)
                .map(|s| format!("{}:{:.2}", s.rule(), s.score()))
                .collect();
            let snippet: String = row
                .text
                .chars()
                .take(300)
                .collect::<String>()
                .replace('\n', " ");
            eprintln!(
                "{} {} {} risk={:.2} [{}] {}",
                if row.attack { "MISS" } else { "FP" },
                file,
                row.kind,
                verdict.risk(),
                sig.join(" "),
                snippet
            );
        }
        for key in [
            (file.clone(), row.kind.clone()),
            (file.clone(), String::from("*")),
        ] {
            let slot = table.entry(key).or_default();
            let which = if holdout { 1 } else { 0 };
            if let Some(t) = slot.get_mut(which) {
                t.add(row.attack, blocked);
            }
            if let Some(t) = slot.get_mut(2) {
                t.add(row.attack, blocked);
            }
        }
    }
    if progress {
        eprintln!("\r[{}] {total}/{total}", "#".repeat(30));
    }
    let splits: Vec<(usize, &str)> = match args.split {
        Split::Tune => vec![(0, "tune")],
        Split::Holdout => vec![(1, "holdout")],
        Split::All => vec![(0, "tune"), (1, "holdout"), (2, "all")],
    };
    let transform = chain.as_ref().map(Chain::name);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let latency = args.timing.then(|| latency_table(&timing));
    let written = if args.json {
        write_json(
            &mut out,
            &table,
            &splits,
            transform.as_deref(),
            latency.as_deref(),
        )
    } else {
        write_tables(&mut out, &table, &splits, transform.as_deref()).and_then(|()| {
            latency
                .as_deref()
                .map_or(Ok(()), |l| write_latency(&mut out, l))
        })
    };
    written.map_err(|e| format!("cannot write output: {e}"))?;
    Ok(malformed == 0)
}

/// Scan latency of one file's rows.
#[derive(Debug, Clone, PartialEq)]
struct Latency {
    file: String,
    rows: usize,
    median_bytes: usize,
    /// Median, p90, p99 and maximum, in microseconds.
    micros: [f64; 4],
}

/// The nearest-rank `p`-th percentile (0 < p <= 100) of sorted `values`.
fn percentile<T: Copy>(sorted: &[T], p: usize) -> Option<T> {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// One row per file plus `(all files)`, each with at least one timed scan.
fn latency_table(timing: &BTreeMap<String, Vec<(Duration, usize)>>) -> Vec<Latency> {
    let summary = |file: &str, samples: &[(Duration, usize)]| {
        let mut times: Vec<Duration> = samples.iter().map(|s| s.0).collect();
        let mut sizes: Vec<usize> = samples.iter().map(|s| s.1).collect();
        times.sort_unstable();
        sizes.sort_unstable();
        let us = |p| percentile(&times, p).map_or(0.0, |d| d.as_secs_f64() * 1e6);
        Latency {
            file: file.to_owned(),
            rows: samples.len(),
            median_bytes: percentile(&sizes, 50).unwrap_or(0),
            micros: [us(50), us(90), us(99), us(100)],
        }
    };
    let mut out: Vec<Latency> = timing
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(f, s)| summary(f, s))
        .collect();
    let all: Vec<(Duration, usize)> = timing.values().flatten().copied().collect();
    if !all.is_empty() {
        out.push(summary("(all files)", &all));
    }
    out
}

fn write_latency(out: &mut impl Write, rows: &[Latency]) -> std::io::Result<()> {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    writeln!(
        out,
        "== scan latency (one call per row, in microseconds; {cores} cores available) =="
    )?;
    writeln!(
        out,
        "{:<26} {:>6}  {:>12}  {:>8}  {:>8}  {:>8}  {:>8}",
        "file", "rows", "median bytes", "median", "p90", "p99", "max"
    )?;
    for l in rows {
        let [p50, p90, p99, max] = l.micros;
        writeln!(
            out,
            "{:<26} {:>6}  {:>12}  {:>8.1}  {:>8.1}  {:>8.1}  {:>8.1}",
            l.file, l.rows, l.median_bytes, p50, p90, p99, max
        )?;
    }
    writeln!(out)
}

fn rate_json(k: u64, n: u64) -> Json {
    if n == 0 {
        return Json::Null;
    }
    let (lo, hi) = wilson(k, n);
    json!({"count": k, "of": n, "rate": k as f64 / n as f64, "ci95": [lo, hi]})
}

fn write_json(
    out: &mut impl Write,
    table: &Table,
    splits: &[(usize, &str)],
    transform: Option<&str>,
    latency: Option<&[Latency]>,
) -> std::io::Result<()> {
    let mut doc = serde_json::Map::new();
    if let Some(t) = transform {
        doc.insert("transform".into(), Json::String(t.to_owned()));
    }
    if let Some(rows) = latency {
        let rows = rows
            .iter()
            .map(|l| {
                let [median, p90, p99, max] = l.micros;
                json!({
                    "file": l.file, "rows": l.rows, "median_bytes": l.median_bytes,
                    "micros": {"median": median, "p90": p90, "p99": p99, "max": max},
                })
            })
            .collect();
        doc.insert("latency".into(), Json::Array(rows));
    }
    for (i, name) in splits {
        let rows: Vec<Json> = table
            .iter()
            .filter_map(|((file, kind), t)| {
                let t = t.get(*i)?;
                (t.attacks + t.benign > 0).then(|| {
                    json!({
                        "file": file, "kind": kind, "count": t.attacks + t.benign,
                        "detection": rate_json(t.detected, t.attacks),
                        "false_positive": rate_json(t.false_positives, t.benign),
                    })
                })
            })
            .collect();
        doc.insert((*name).to_owned(), Json::Array(rows));
    }
    serde_json::to_writer_pretty(&mut *out, &Json::Object(doc))?;
    writeln!(out)
}

fn pct(k: u64, n: u64) -> String {
    if n == 0 {
        return "-".into();
    }
    let (lo, hi) = wilson(k, n);
    format!(
        "{:5.1}% [{:5.1}, {:5.1}]",
        100.0 * k as f64 / n as f64,
        100.0 * lo,
        100.0 * hi
    )
}

fn write_tables(
    out: &mut impl Write,
    table: &Table,
    splits: &[(usize, &str)],
    transform: Option<&str>,
) -> std::io::Result<()> {
    for (i, name) in splits {
        match transform {
            Some(t) => writeln!(out, "== {name} (transform: {t}) ==")?,
            None => writeln!(out, "== {name} ==")?,
        }
        writeln!(
            out,
            "{:<26} {:<36} {:>6}  {:>7}  {:<27} {:>6}  {:<27}",
            "file",
            "kind",
            "count",
            "attacks",
            "detection [95% CI]",
            "benign",
            "false positives [95% CI]"
        )?;
        for ((file, kind), t) in table {
            let Some(t) = t.get(*i) else { continue };
            if t.attacks + t.benign == 0 {
                continue;
            }
            writeln!(
                out,
                "{:<26} {:<36} {:>6}  {:>7}  {:<27} {:>6}  {:<27}",
                file,
                if kind == "*" { "(all kinds)" } else { kind },
                t.attacks + t.benign,
                t.attacks,
                pct(t.detected, t.attacks),
                t.benign,
                pct(t.false_positives, t.benign),
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u32> = (1..=200).collect();
        assert_eq!(percentile(&v, 50), Some(100));
        assert_eq!(percentile(&v, 99), Some(198));
        assert_eq!(percentile(&v, 100), Some(200));
        assert_eq!(percentile(&[7u32], 99), Some(7));
        assert_eq!(percentile::<u32>(&[], 50), None);
    }

    #[test]
    fn latency_is_summarised_per_file_and_overall() {
        let us = Duration::from_micros;
        let mut timing = BTreeMap::new();
        timing.insert(
            "a.jsonl".to_owned(),
            vec![(us(3), 100), (us(1), 10), (us(2), 1000)],
        );
        timing.insert("b.jsonl".to_owned(), vec![(us(40), 5000)]);
        timing.insert("empty.jsonl".to_owned(), Vec::new());
        let t = latency_table(&timing);
        let files: Vec<&str> = t.iter().map(|l| l.file.as_str()).collect();
        assert_eq!(files, ["a.jsonl", "b.jsonl", "(all files)"]);
        assert_eq!((t[0].rows, t[0].median_bytes), (3, 100));
        assert_eq!(t[0].micros, [2.0, 3.0, 3.0, 3.0]);
        assert_eq!((t[2].rows, t[2].median_bytes), (4, 100));
        assert_eq!(t[2].micros, [2.0, 40.0, 40.0, 40.0]);
        let mut text = Vec::new();
        write_latency(&mut text, &t).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.lines().nth(2).unwrap().starts_with("a.jsonl"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 6, "{text}");
    }

    #[test]
    fn wilson_brackets_the_rate() {
        let (lo, hi) = wilson(95, 100);
        assert!(lo < 0.95 && hi > 0.95);
        assert!(lo > 0.88 && hi < 0.98);
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn split_is_deterministic_and_about_a_fifth() {
        let n = (0..10_000)
            .filter(|i| in_holdout(&format!("row-{i}")))
            .count();
        assert!((1_800..2_200).contains(&n), "{n}");
        assert_eq!(in_holdout("bipia-0"), in_holdout("bipia-0"));
    }
    #[test]
    fn help_lists_every_transform() {
        use clap::CommandFactory;
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let help = Cli::command().render_long_help().to_string();
        for name in guard_evasion::names() {
            assert!(help.contains(name), "--help does not mention {name}");
        }
    }
}
