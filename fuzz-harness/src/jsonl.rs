//! `guard check`'s JSON Lines decoder: arbitrary bytes through the command's line reader and
//! its line handler, on the default blueprint with a few known order owners.

use std::io::Cursor;

use guard_cli::{CheckStream, Line, Lines};
use guard_core::store::{ManualClock, Timestamp};
use guard_core::{Guard, MemoryOwnership};
use serde_json::Value as Json;

use crate::scan::check_answer;
use crate::{ensure, unit_interval, Check};

/// Every line's answer must be a result with the line's id or an error line; decisions must be
/// self-consistent.
pub fn check_jsonl(data: &[u8]) -> Check {
    let mut owners = MemoryOwnership::new();
    owners.insert("order", "A-1", "C-1");
    owners.insert("order", "A-2", "C-2");
    let clock = ManualClock::new(Timestamp::from_millis(1_790_000_000_000));
    let guard = Guard::builder()
        .scanner(crate::scan::scanner()?)
        .ownership(owners)
        .clock(clock.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let mut stream = CheckStream::new(guard, clock);
    let mut lines = Lines::new(Cursor::new(data));
    while let Some(line) = lines.next_line().map_err(|e| format!("reading: {e}"))? {
        let Line::Text(text) = line else { continue };
        if text.trim().is_empty() {
            continue;
        }
        let answer = stream.line(&text);
        check_answer(&answer)?;
        if let Ok(Json::Object(o)) = &answer {
            if let Some(Json::String(i)) = o.get("intervention") {
                let allowed = matches!(i.as_str(), "ok" | "nudge" | "flag");
                ensure(o.get("allowed") == Some(&Json::Bool(allowed)), || {
                    format!("intervention {i} with allowed {:?}", o.get("allowed"))
                })?;
                ensure(o.contains_key("ticket") == (i == "escalate"), || {
                    format!("intervention {i} and ticket {:?}", o.get("ticket"))
                })?;
            }
            if let Some(t) = o.get("trust") {
                unit_interval(t.as_f64().unwrap_or(f64::NAN), "trust")?;
            }
            if let Some(r) = o.get("risk") {
                unit_interval(r.as_f64().unwrap_or(f64::NAN), "risk")?;
            }
        }
    }
    Ok(())
}
