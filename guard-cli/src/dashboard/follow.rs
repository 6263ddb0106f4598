//! Follows the audit file like `tail -F`: new lines as they are appended, from the start again
//! when the file is rotated or truncated.

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::response::sse::Event;
use serde_json::Value as Json;
use tokio::sync::broadcast;

/// Lines longer than this are skipped: no audit event is that large (text is capped).
const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;
/// Read at most this much per poll, so a huge file is caught up over several polls.
const CHUNK: u64 = 8 * 1024 * 1024;

/// One event as sent to pages: its JSON with a `seq` added.
#[derive(Debug)]
pub struct Line {
    pub seq: u64,
    pub json: String,
}

impl Line {
    pub fn event(&self) -> Event {
        // Re-serialised JSON has no raw newline or carriage return, which SSE data cannot carry.
        Event::default().id(self.seq.to_string()).data(&self.json)
    }
}

/// The events read so far (the last `capacity`) and the channel announcing new ones.
pub struct Feed {
    inner: Mutex<Inner>,
    sender: broadcast::Sender<Arc<Line>>,
    capacity: usize,
    epoch: String,
}

struct Inner {
    lines: VecDeque<Arc<Line>>,
    next_seq: u64,
}

impl Feed {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(4096);
        // Distinguishes this run's sequence numbers from a previous run's, so a page that
        // reconnects after a restart starts over instead of waiting for old numbers.
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
            .to_string();
        Self {
            inner: Mutex::new(Inner {
                lines: VecDeque::new(),
                next_seq: 1,
            }),
            sender,
            capacity: capacity.max(1),
            epoch,
        }
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Events after `seq`, and a receiver for everything later: taken under one lock, so no
    /// event falls between the two.
    pub fn snapshot_after(&self, seq: u64) -> (Vec<Arc<Line>>, broadcast::Receiver<Arc<Line>>) {
        let inner = match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let lines = inner
            .lines
            .iter()
            .filter(|l| l.seq > seq)
            .cloned()
            .collect();
        (lines, self.sender.subscribe())
    }

    /// Adds one event (a JSON object); anything else is ignored.
    pub fn push(&self, raw: &str) -> bool {
        let Ok(Json::Object(mut object)) = serde_json::from_str::<Json>(raw) else {
            return false;
        };
        let mut inner = match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let seq = inner.next_seq;
        inner.next_seq += 1;
        object.insert("seq".into(), Json::from(seq));
        let Ok(json) = serde_json::to_string(&object) else {
            return false;
        };
        let line = Arc::new(Line { seq, json });
        if inner.lines.len() >= self.capacity {
            inner.lines.pop_front();
        }
        inner.lines.push_back(Arc::clone(&line));
        // No receiver is not an error: nobody is watching yet.
        let _ = self.sender.send(line);
        true
    }
}

/// Where the follower is: the open file (kept open, so the end of a rotated file is still
/// read after the rename) and the bytes of an unfinished line.
#[derive(Default)]
struct Position {
    file: Option<std::fs::File>,
    offset: u64,
    partial: Vec<u8>,
    skipping: bool,
}

/// Polls `path` forever, pushing complete lines into `feed`.
pub async fn follow(path: PathBuf, feed: Arc<Feed>, poll: Duration) {
    let mut pos = Position::default();
    loop {
        let path2 = path.clone();
        let taken = std::mem::take(&mut pos);
        // Blocking file I/O stays off the async threads.
        let result = tokio::task::spawn_blocking(move || read_new(&path2, taken)).await;
        let mut caught_up = true;
        match result {
            Ok((next, lines, more)) => {
                pos = next;
                for line in lines {
                    feed.push(&line);
                }
                caught_up = !more;
            }
            Err(_) => pos = Position::default(),
        }
        if caught_up {
            tokio::time::sleep(poll).await;
        }
    }
}

/// Whether `path` now names a different file than the one open (it was rotated).
fn replaced(path: &std::path::Path, open: &std::fs::File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(path), open.metadata()) {
            (Ok(now), Ok(was)) => now.ino() != was.ino() || now.dev() != was.dev(),
            // The path is gone for the moment: keep reading what is open.
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, open);
        false
    }
}

/// Reads what was appended since `pos`; returns the new position, the complete lines and
/// whether more is waiting.
fn read_new(path: &std::path::Path, mut pos: Position) -> (Position, Vec<String>, bool) {
    if pos.file.is_none() {
        match std::fs::File::open(path) {
            Ok(f) => {
                pos = Position {
                    file: Some(f),
                    ..Position::default()
                }
            }
            Err(_) => return (pos, Vec::new(), false),
        }
    }
    let Some(file) = pos.file.as_mut() else {
        return (pos, Vec::new(), false);
    };
    let len = file.metadata().map_or(0, |m| m.len());
    if len < pos.offset {
        // Truncated in place: start over.
        pos.offset = 0;
        pos.partial.clear();
        pos.skipping = false;
    }
    let mut buf = Vec::new();
    let n = if len > pos.offset && file.seek(SeekFrom::Start(pos.offset)).is_ok() {
        file.take(CHUNK).read_to_end(&mut buf).unwrap_or(0)
    } else {
        0
    };
    pos.offset += u64::try_from(n).unwrap_or(0);
    let more = pos.offset < len;
    if n == 0 && !more {
        if let Some(open) = pos.file.as_ref() {
            if replaced(path, open) {
                // The old file is read to its end: continue with the new one at once.
                pos = Position::default();
                return (pos, Vec::new(), true);
            }
        }
    }
    let mut lines = Vec::new();
    let mut rest: &[u8] = &buf;
    while let Some(i) = rest.iter().position(|b| *b == b'\n') {
        let (head, tail) = rest.split_at(i);
        if !pos.skipping {
            pos.partial.extend_from_slice(head);
            if let Ok(text) = std::str::from_utf8(&pos.partial) {
                if !text.trim().is_empty() {
                    lines.push(text.to_owned());
                }
            }
        }
        pos.partial.clear();
        pos.skipping = false;
        rest = tail.get(1..).unwrap_or(&[]);
    }
    if !pos.skipping {
        pos.partial.extend_from_slice(rest);
        if pos.partial.len() > MAX_LINE_BYTES {
            pos.partial.clear();
            pos.skipping = true;
        }
    }
    (pos, lines, more)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_complete_lines_and_keeps_the_partial_one() {
        let dir = std::env::temp_dir().join(format!("guard-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.jsonl");
        std::fs::write(&path, "{\"a\":1}\n{\"b\":").unwrap();
        let (pos, lines, _) = read_new(&path, Position::default());
        assert_eq!(lines, ["{\"a\":1}"]);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"2}\n").unwrap();
        let (pos, lines, _) = read_new(&path, pos);
        assert_eq!(lines, ["{\"b\":2}"]);
        // Rotation: what was appended to the old file before the rename is still read, then
        // the new file from its start.
        f.write_all(b"{\"late\":1}\n").unwrap();
        std::fs::rename(&path, dir.join("a.jsonl.1")).unwrap();
        std::fs::write(&path, "{\"c\":3}\n").unwrap();
        let (pos, lines, _) = read_new(&path, pos);
        assert_eq!(lines, ["{\"late\":1}"]);
        let (pos, lines, more) = read_new(&path, pos);
        assert!(lines.is_empty() && more);
        let (pos, lines, _) = read_new(&path, pos);
        assert_eq!(lines, ["{\"c\":3}"]);
        // Truncation in place starts over.
        std::fs::write(&path, "").unwrap();
        let (pos, _, _) = read_new(&path, pos);
        std::fs::write(&path, "{\"d\":4}\n").unwrap();
        let (_, lines, _) = read_new(&path, pos);
        assert_eq!(lines, ["{\"d\":4}"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn feed_numbers_events_and_ignores_non_objects() {
        let feed = Feed::new(2);
        assert!(feed.push(r#"{"kind":"verdict"}"#));
        assert!(!feed.push("[1,2]"));
        assert!(!feed.push("not json"));
        assert!(feed.push(r#"{"kind":"decision"}"#));
        assert!(feed.push(r#"{"kind":"approval"}"#));
        let (lines, _) = feed.snapshot_after(0);
        let seqs: Vec<u64> = lines.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, [2, 3]);
        assert!(lines[0].json.contains(r#""seq":2"#));
        let (after, _) = feed.snapshot_after(2);
        assert_eq!(after.len(), 1);
    }
}
