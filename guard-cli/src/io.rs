//! Shared JSON Lines plumbing: bounded line reading, line-by-line flushed output, policy loading.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use guard_core::Blueprint;
use serde_json::Value as Json;

/// Lines longer than this are answered with an error line and skipped: the largest scannable
/// message plus its JSON envelope fits comfortably.
pub const MAX_LINE_BYTES: usize = 32 * 1024 * 1024;

/// Opens `FILE`, or standard input for `-` or no argument.
pub fn open_input(path: Option<&Path>) -> io::Result<Box<dyn BufRead>> {
    match path {
        None => Ok(Box::new(BufReader::new(io::stdin()))),
        Some(p) if p == Path::new("-") => Ok(Box::new(BufReader::new(io::stdin()))),
        Some(p) => Ok(Box::new(BufReader::new(File::open(p)?))),
    }
}

/// One input line: its text, or why it cannot be read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Text(String),
    Invalid(String),
}

/// Reads lines of at most `MAX_LINE_BYTES`, never holding more than that in memory.
#[derive(Debug)]
pub struct Lines<R> {
    inner: R,
}

impl<R: BufRead> Lines<R> {
    pub fn new(inner: R) -> Self {
        Self { inner }
    }

    /// The next line, `None` at the end, `Err` on an I/O failure.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        let mut buf = Vec::new();
        let limit = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX);
        let n = (&mut self.inner)
            .take(limit + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE_BYTES {
            // Discard the rest of the oversized line without buffering it.
            let mut sink = Vec::new();
            loop {
                sink.clear();
                let m = (&mut self.inner)
                    .take(1 << 20)
                    .read_until(b'\n', &mut sink)?;
                if m == 0 || sink.last() == Some(&b'\n') {
                    break;
                }
            }
            return Ok(Some(Line::Invalid(format!(
                "line longer than {MAX_LINE_BYTES} bytes"
            ))));
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        Ok(Some(match String::from_utf8(buf) {
            Ok(s) => Line::Text(s),
            Err(e) => Line::Invalid(format!("line is not valid UTF-8: {e}")),
        }))
    }
}

/// Writes one JSON value as a line and flushes it, so consumers see answers as they happen.
pub fn emit(out: &mut impl Write, value: &Json) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// An error line, echoing the input's id when it had one.
pub fn error_line(id: Option<&Json>, message: impl Into<String>) -> Json {
    let mut obj = serde_json::Map::new();
    if let Some(id) = id {
        obj.insert("id".into(), id.clone());
    }
    obj.insert("error".into(), Json::String(message.into()));
    Json::Object(obj)
}

/// The blueprint from `--policy`, or the embedded default. Warnings go to standard error.
pub fn load_policy(path: Option<&PathBuf>) -> Result<Blueprint, String> {
    let bp = match path {
        Some(p) => Blueprint::from_file(p),
        None => Blueprint::embedded_default(),
    }
    .map_err(|e| e.to_string())?;
    for w in bp.warnings() {
        eprintln!("guard: warning: {w}");
    }
    Ok(bp)
}

/// The scan output object of the JSON contract.
pub fn verdict_json(id: Json, verdict: &guard_core::Verdict) -> Json {
    let signals: Vec<Json> = verdict
        .signals()
        .iter()
        .map(|s| {
            let mut o = serde_json::Map::new();
            o.insert("detector".into(), s.detector().into());
            o.insert("rule".into(), s.rule().into());
            o.insert("score".into(), score(s.score()));
            if let Some(span) = s.span() {
                o.insert(
                    "span".into(),
                    serde_json::json!({"start": span.start, "end": span.end}),
                );
            }
            Json::Object(o)
        })
        .collect();
    let mut o = serde_json::Map::new();
    o.insert("id".into(), id);
    o.insert(
        "verdict".into(),
        if verdict.blocked() { "block" } else { "allow" }.into(),
    );
    o.insert("risk".into(), score(verdict.risk()));
    o.insert("signals".into(), Json::Array(signals));
    if let Some(reply) = verdict.reply() {
        o.insert("reply".into(), reply.into());
    }
    Json::Object(o)
}

/// A score rounded to four places, as a JSON number (NaN cannot occur, but would map to 0).
pub fn score(x: f64) -> Json {
    let rounded = (x * 10_000.0).round() / 10_000.0;
    serde_json::Number::from_f64(rounded).map_or(Json::from(0), Json::Number)
}

/// Audit options shared by `guard scan` and `guard check`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Append every verdict and decision to this JSON Lines audit file (created owner-only).
    #[arg(long)]
    pub audit: Option<PathBuf>,
    /// File holding the 32-byte pseudonym key as 64 hex digits (or set GUARD_AUDIT_KEY).
    /// Without one, a random key is used and pseudonyms match only within this run.
    #[arg(long, requires = "audit")]
    pub audit_key: Option<PathBuf>,
}

impl AuditArgs {
    /// The auditor these options ask for (disabled without `--audit`).
    pub fn auditor(&self, blueprint: &Blueprint) -> Result<guard_core::audit::Auditor, String> {
        use guard_core::audit::{AuditKey, Auditor, JsonlFileSink};
        let Some(path) = &self.audit else {
            return Ok(Auditor::disabled());
        };
        let key = match (&self.audit_key, std::env::var("GUARD_AUDIT_KEY")) {
            (Some(file), _) => {
                let text = read_text_bounded(file, 4096)?;
                AuditKey::from_hex(text.trim()).map_err(|e| format!("{}: {e}", file.display()))?
            }
            (None, Ok(hex)) => {
                AuditKey::from_hex(hex.trim()).map_err(|e| format!("GUARD_AUDIT_KEY: {e}"))?
            }
            (None, Err(_)) => {
                eprintln!("guard: warning: no audit key given (--audit-key or GUARD_AUDIT_KEY): pseudonyms match only within this run");
                AuditKey::generate().map_err(|e| e.to_string())?
            }
        };
        let sink = JsonlFileSink::builder(path)
            .open()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Auditor::builder()
            .key(key)
            .blueprint(blueprint, blueprint.source_text())
            .sink(std::sync::Arc::new(sink))
            .background(8192)
            .build()
            .map_err(|e| e.to_string())
    }
}

/// Reads an operator-named text file of at most `limit` bytes, so a path to `/dev/zero` or a
/// runaway file is an error rather than memory exhaustion.
pub fn read_text_bounded(path: &std::path::Path, limit: u64) -> Result<String, String> {
    use std::io::Read;
    let name = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name}: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("{name}: larger than the {limit}-byte limit"));
    }
    String::from_utf8(bytes).map_err(|_| format!("{name}: not UTF-8"))
}
