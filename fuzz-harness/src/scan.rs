//! The message scanner on arbitrary bytes (through the command's line reader, and as lossy text)
//! and on arbitrary Unicode with session history.

use std::io::Cursor;
use std::sync::{Arc, OnceLock};

use guard_cli::{scan_line, Line, Lines};
use guard_core::{Blueprint, Guard, Scanner, Source, Verdict};
use serde_json::Value as Json;

use crate::{ensure, unit_interval, Check};

/// The default blueprint's scanner, compiled once: scanning keeps no state, so sharing it keeps
/// every input independent of the ones before, and guards built per input skip the compile
/// (milliseconds, which would otherwise be most of each run).
pub(crate) fn scanner() -> Result<Arc<Scanner>, String> {
    static SCANNER: OnceLock<Result<Arc<Scanner>, String>> = OnceLock::new();
    SCANNER
        .get_or_init(|| {
            let bp = Blueprint::embedded_default().map_err(|e| e.to_string())?;
            Scanner::new(bp.scanner())
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// What every verdict on `text` must satisfy.
pub(crate) fn check_verdict(text: &str, v: &Verdict) -> Check {
    unit_interval(v.risk(), "risk")?;
    ensure(v.reply().is_some() == v.blocked(), || {
        "a reply must come with a block, and only then".into()
    })?;
    ensure(v.signals().len() <= 32, || {
        format!("{} signals (at most 32)", v.signals().len())
    })?;
    for s in v.signals() {
        unit_interval(
            s.score(),
            &format!("signal {}/{} score", s.detector(), s.rule()),
        )?;
        if let Some(span) = s.span() {
            ensure(
                span.start <= span.end
                    && span.end <= text.len()
                    && text.is_char_boundary(span.start)
                    && text.is_char_boundary(span.end),
                || {
                    format!(
                        "signal {}/{} span {span:?} is not a char range of the {}-byte text",
                        s.detector(),
                        s.rule(),
                        text.len()
                    )
                },
            )?;
        }
    }
    Ok(())
}

/// A `guard scan` / `guard check` answer: a result object with the input's id, or an error line.
pub(crate) fn check_answer(answer: &Result<Json, Json>) -> Check {
    match answer {
        Ok(Json::Object(o)) => ensure(o.contains_key("id"), || {
            format!("an answer without `id`: {o:?}")
        }),
        Err(Json::Object(o)) => ensure(matches!(o.get("error"), Some(Json::String(_))), || {
            format!("an error line without an `error` string: {o:?}")
        }),
        other => Err(format!("an answer that is not an object: {other:?}")),
    }
}

/// Arbitrary bytes as `guard scan` reads them (line by line, invalid UTF-8 answered with an
/// error line), then the whole input as lossy text through the scanner.
pub fn scan_bytes(data: &[u8]) -> Check {
    let scanner = scanner()?;
    // A fresh guard per input: `guard scan` keeps session history between lines.
    let guard = Guard::builder()
        .scanner(Arc::clone(&scanner))
        .build()
        .map_err(|e| e.to_string())?;
    let mut lines = Lines::new(Cursor::new(data));
    let mut count = 0usize;
    let newlines = data.iter().filter(|&&b| b == b'\n').count();
    loop {
        let line = lines.next_line().map_err(|e| format!("reading: {e}"))?;
        let Some(line) = line else { break };
        count += 1;
        ensure(count <= newlines + 1, || {
            format!("{count} lines from {newlines} newlines")
        })?;
        match line {
            Line::Text(text) => {
                ensure(!text.ends_with('\n'), || "a line kept its newline".into())?;
                check_verdict(&text, &scanner.scan(&text, Source::Customer))?;
                check_answer(&scan_line(&guard, &text))?;
            }
            Line::Invalid(message) => ensure(message.contains("UTF-8"), || {
                format!("a short line refused for another reason than UTF-8: {message}")
            })?,
        }
    }
    let lossy = String::from_utf8_lossy(data);
    check_verdict(&lossy, &scanner.scan(&lossy, Source::ToolOutput))
}

/// Arbitrary Unicode: the text is split on U+001E (record separator) into earlier messages of
/// the session and the message scanned in their context.
pub fn scan_unicode(data: &[u8]) -> Check {
    let scanner = scanner()?;
    let text = String::from_utf8_lossy(data);
    let mut parts: Vec<&str> = text.split('\u{1e}').collect();
    let message = parts.pop().unwrap_or("");
    let history = parts;
    let v = scanner.scan_in_context(message, &history, Source::Customer);
    check_verdict(message, &v)?;
    let again = scanner.scan_in_context(message, &history, Source::Customer);
    ensure(v == again, || "the same scan gave two verdicts".into())?;
    let alone = scanner.scan(message, Source::ToolOutput);
    check_verdict(message, &alone)?;
    if history.is_empty() {
        let customer = scanner.scan(message, Source::Customer);
        ensure(customer == v, || {
            "scan_in_context with no history differs from scan".into()
        })?;
    }
    Ok(())
}
