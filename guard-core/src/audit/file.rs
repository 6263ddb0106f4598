//! The JSON Lines file sink: a bounded queue in front of a writer thread.
//!
//! The check path only ever takes a lock and pushes onto the queue. When the queue is full
//! (the disk is slow or stalled):
//! - OK and NUDGE events are dropped and counted; the writer records the count as a `dropped`
//!   event before the next events it writes, so the trail says that something is missing.
//! - FLAG, ESCALATE, BLOCK, approval and drop-count events are never dropped. The caller waits
//!   for room for at most `block_timeout` (default 20 ms); after that the event is queued past
//!   the capacity (a spill, counted in [`SinkStats::spilled`]). Memory then grows only with the
//!   severe events of an outage, each bounded in size (text is capped), and the check never
//!   waits on the disk for longer than `block_timeout`.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::event::AuditEvent;
use super::queue::{Consumer, Queued};
use super::sink::AuditSink;
use super::AuditError;

/// Counters of a queued sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Events written.
    pub written: u64,
    /// OK / NUDGE events dropped because the queue was full.
    pub dropped: u64,
    /// Severe events queued past the capacity after waiting `block_timeout`.
    pub spilled: u64,
    /// Events lost to write errors (the file could not be written or reopened).
    pub lost: u64,
    /// Failed writes and flushes (a failed flush may lose buffered lines it cannot count).
    pub errors: u64,
    /// Files rotated.
    pub rotations: u64,
}

/// Something the writer thread writes lines to.
pub(crate) trait LineWriter: Send + 'static {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
    fn rotations(&self) -> u64 {
        0
    }
}

/// Writes each event as a JSON line, a drop count first when the queue had to drop.
pub(crate) struct Lines<W>(pub(crate) W);

impl<W: LineWriter> Consumer<Arc<AuditEvent>> for Lines<W> {
    fn consume(
        &mut self,
        dropped: u64,
        batch: &mut VecDeque<Arc<AuditEvent>>,
        stats: &mut SinkStats,
    ) {
        let drop_event = (dropped > 0).then(|| Arc::new(AuditEvent::dropped(dropped)));
        for event in drop_event.iter().chain(batch.iter()) {
            let mut line = event.to_json_line().into_bytes();
            line.push(b'\n');
            match self.0.write_line(&line) {
                Ok(()) => stats.written += 1,
                Err(_) => {
                    stats.lost += 1;
                    stats.errors += 1;
                }
            }
        }
        batch.clear();
        stats.rotations = self.0.rotations();
    }

    fn flush(&mut self, stats: &mut SinkStats) {
        if self.0.flush().is_err() {
            stats.errors += 1;
        }
    }
}

/// Appends JSON lines to a file, rotating it by size.
pub(crate) struct RotatingFile {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    bytes: u64,
    max_bytes: u64,
    keep: u32,
    rotations: u64,
}

/// Opens (creating) `path` for appending, readable and writable by the owner only.
fn open_owner_only(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        // `mode` only applies to a file this call creates; an existing file is narrowed too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        options.open(path)
    }
}

impl RotatingFile {
    pub(crate) fn open(path: &Path, max_bytes: u64, keep: u32) -> io::Result<Self> {
        let file = open_owner_only(path)?;
        let bytes = file.metadata()?.len();
        Ok(Self {
            path: path.to_owned(),
            file: Some(BufWriter::with_capacity(64 * 1024, file)),
            bytes,
            max_bytes: max_bytes.max(1),
            keep,
            rotations: 0,
        })
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
        }
        self.file = Some(BufWriter::with_capacity(
            64 * 1024,
            open_owner_only(&self.path)?,
        ));
        self.bytes = 0;
        self.rotations += 1;
        Ok(())
    }
}

impl LineWriter for RotatingFile {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let len = u64::try_from(line.len()).unwrap_or(u64::MAX);
        if self.bytes > 0 && self.bytes.saturating_add(len) > self.max_bytes {
            self.rotate()?;
        }
        if self.file.is_none() {
            // A failed rotation or write left no file: try again, so one bad moment does not
            // lose the rest of the trail.
            self.file = Some(BufWriter::with_capacity(
                64 * 1024,
                open_owner_only(&self.path)?,
            ));
            self.bytes = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("audit file is not open"));
        };
        if let Err(e) = file.write_all(line) {
            self.file = None;
            return Err(e);
        }
        self.bytes = self.bytes.saturating_add(len);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }

    fn rotations(&self) -> u64 {
        self.rotations
    }
}

/// Writes events as JSON Lines to a file: created owner-only (0600 on unix), buffered, flushed
/// every `flush_interval` and on drop, rotated by size (`audit.jsonl` → `audit.jsonl.1` → …,
/// keeping `keep` old files). Writing happens on its own thread behind a bounded queue; see the
/// module docs for what happens when the queue is full.
///
/// ```
/// use std::sync::Arc;
/// use guard_core::audit::{AuditEvent, AuditSink, JsonlFileSink};
/// let dir = std::env::temp_dir().join(format!("guard-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("audit.jsonl");
/// let sink = JsonlFileSink::builder(&path).capacity(1024).open()?;
/// sink.record(Arc::new(AuditEvent::dropped(3)));
/// sink.flush();
/// assert!(std::fs::read_to_string(&path)?.contains(r#""dropped":3"#));
/// # drop(sink); std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JsonlFileSink {
    queue: Queued<Arc<AuditEvent>>,
    path: PathBuf,
}

/// Builds a [`JsonlFileSink`].
#[derive(Debug, Clone)]
pub struct JsonlFileSinkBuilder {
    path: PathBuf,
    capacity: usize,
    flush_interval: Duration,
    block_timeout: Duration,
    max_bytes: u64,
    keep: u32,
}

impl JsonlFileSink {
    /// Starts a builder for a sink writing to `path`.
    pub fn builder(path: impl AsRef<Path>) -> JsonlFileSinkBuilder {
        JsonlFileSinkBuilder {
            path: path.as_ref().to_owned(),
            capacity: 8192,
            flush_interval: Duration::from_millis(200),
            block_timeout: Duration::from_millis(20),
            max_bytes: 64 * 1024 * 1024,
            keep: 5,
        }
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Counters: written, dropped, spilled, lost, rotations.
    pub fn stats(&self) -> SinkStats {
        self.queue.stats()
    }
}

impl JsonlFileSinkBuilder {
    /// Queue capacity in events (default 8192).
    pub fn capacity(mut self, events: usize) -> Self {
        self.capacity = events;
        self
    }
    /// How often buffered lines reach the file (default 200 ms).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }
    /// How long a severe event may wait for room in a full queue before it spills
    /// (default 20 ms).
    pub fn block_timeout(mut self, timeout: Duration) -> Self {
        self.block_timeout = timeout;
        self
    }
    /// Rotate once the file would exceed this size (default 64 MiB).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }
    /// How many rotated files to keep (default 5).
    pub fn keep(mut self, files: u32) -> Self {
        self.keep = files;
        self
    }

    /// Opens the file and starts the writer thread.
    pub fn open(self) -> Result<JsonlFileSink, AuditError> {
        let file = RotatingFile::open(&self.path, self.max_bytes, self.keep)
            .map_err(|e| AuditError::Open(self.path.display().to_string(), e))?;
        let queue = Queued::spawn(
            "guard-audit-writer",
            Lines(file),
            self.capacity,
            self.block_timeout,
            Some(self.flush_interval),
        )?;
        Ok(JsonlFileSink {
            queue,
            path: self.path,
        })
    }
}

impl AuditSink for JsonlFileSink {
    fn record(&self, event: Arc<AuditEvent>) {
        self.queue.push(event);
    }

    /// Waits up to two seconds for everything recorded so far to reach the file.
    fn flush(&self) {
        let _ = self.queue.flush_within(Duration::from_secs(2));
    }
}
