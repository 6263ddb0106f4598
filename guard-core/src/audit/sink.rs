//! Where events go: the trait, an in-memory ring, a no-op sink and `tracing`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::event::AuditEvent;

/// A destination for audit events.
///
/// `record` is called on the check path: it must return quickly and never wait on I/O for
/// longer than its own bound (see [`super::JsonlFileSink`]). Events come as `Arc` so one event
/// can go to several sinks without copying.
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Takes one event.
    fn record(&self, event: Arc<AuditEvent>);
    /// Writes out anything buffered, waiting a bounded time. Default: nothing to do.
    fn flush(&self) {}
}

/// Discards everything: the baseline of the benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopSink;

impl AuditSink for NoopSink {
    fn record(&self, _event: Arc<AuditEvent>) {}
}

/// The last `capacity` events in memory, for tests and live views.
///
/// ```
/// use std::sync::Arc;
/// use guard_core::audit::{AuditEvent, AuditSink, MemoryRing};
/// let ring = MemoryRing::new(2);
/// for n in 1..=3 {
///     ring.record(Arc::new(AuditEvent::dropped(n)));
/// }
/// let kept: Vec<_> = ring.snapshot().iter().map(|e| e.dropped_count()).collect();
/// assert_eq!(kept, [Some(2), Some(3)]);
/// assert_eq!(ring.total(), 3);
/// ```
#[derive(Debug)]
pub struct MemoryRing {
    capacity: usize,
    events: Mutex<VecDeque<Arc<AuditEvent>>>,
    total: AtomicU64,
}

impl MemoryRing {
    /// A ring keeping the last `capacity` events (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            events: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            total: AtomicU64::new(0),
        }
    }

    /// The events held, oldest first.
    pub fn snapshot(&self) -> Vec<Arc<AuditEvent>> {
        self.events.lock().iter().cloned().collect()
    }

    /// How many events were ever recorded (including those since evicted).
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Empties the ring.
    pub fn clear(&self) {
        self.events.lock().clear();
    }
}

impl AuditSink for MemoryRing {
    fn record(&self, event: Arc<AuditEvent>) {
        let mut events = self.events.lock();
        if events.len() >= self.capacity {
            events.pop_front();
        }
        events.push_back(event);
        self.total.fetch_add(1, Ordering::Relaxed);
    }
}

/// Mirrors each event as a `tracing` event with target `guard::audit`: WARN for BLOCK,
/// ESCALATE and drop counts, INFO otherwise; the whole event is in the `event` field as JSON.
#[cfg(feature = "tracing")]
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingSink;

#[cfg(feature = "tracing")]
impl AuditSink for TracingSink {
    fn record(&self, event: Arc<AuditEvent>) {
        let kind = format!("{:?}", event.kind()).to_ascii_lowercase();
        let intervention = event.intervention().unwrap_or("");
        let json = event.to_json_line();
        if matches!(intervention, "block" | "escalate") || event.kind() == super::EventKind::Dropped
        {
            tracing::warn!(target: "guard::audit", kind, intervention, event = %json);
        } else {
            tracing::info!(target: "guard::audit", kind, intervention, event = %json);
        }
    }
}
