//! A bounded queue drained by one worker thread: what keeps disk (and event building) off the
//! check path.
//!
//! The caller only takes a lock and pushes. When the queue is full:
//! - droppable items (OK and NUDGE) are dropped and counted; the consumer is told the count
//!   before the next batch, so the trail records that something is missing;
//! - every other item waits for room for at most `block_timeout`, then is queued past the
//!   capacity (a spill, counted). Memory then grows only with the severe events of an outage,
//!   each bounded in size, and the caller never waits longer than `block_timeout`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::event::AuditEvent;
use super::file::SinkStats;
use super::AuditError;

/// How often an idle worker looks at the queue: the bound on how long an item waits before it
/// is handled. Pushing does not wake the worker (a syscall on the check path) until the queue
/// is half full.
const TICK: Duration = Duration::from_millis(10);

/// What may be queued.
pub(crate) trait Item: Send + 'static {
    /// Whether a full queue may drop it.
    fn droppable(&self) -> bool;
}

impl Item for Arc<AuditEvent> {
    fn droppable(&self) -> bool {
        AuditEvent::droppable(self)
    }
}

/// What the worker hands batches to.
pub(crate) trait Consumer<T>: Send + 'static {
    /// Handles a batch (leaving it empty), told first how many items were dropped since the
    /// last call.
    fn consume(&mut self, dropped: u64, batch: &mut VecDeque<T>, stats: &mut SinkStats);
    /// Makes what was consumed durable.
    fn flush(&mut self, stats: &mut SinkStats);
}

struct State<T> {
    items: VecDeque<T>,
    pending_drops: u64,
    flush_requested: u64,
    flushed: u64,
    shutdown: bool,
    worker_idle: bool,
    stats: SinkStats,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    wake_worker: Condvar,
    wake_callers: Condvar,
    capacity: usize,
    block_timeout: Duration,
}

/// The queue and its worker thread. Dropping it drains the queue, flushes and joins.
pub(crate) struct Queued<T> {
    shared: Arc<Shared<T>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<T> std::fmt::Debug for Queued<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued")
            .field("capacity", &self.shared.capacity)
            .field("stats", &self.shared.state.lock().stats)
            .finish()
    }
}

impl<T: Item> Queued<T> {
    /// Starts the worker. `flush_interval`: how often the consumer is flushed while it has
    /// unflushed work (`None`: only on request and at shutdown).
    pub(crate) fn spawn(
        name: &str,
        consumer: impl Consumer<T>,
        capacity: usize,
        block_timeout: Duration,
        flush_interval: Option<Duration>,
    ) -> Result<Self, AuditError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                items: VecDeque::new(),
                pending_drops: 0,
                flush_requested: 0,
                flushed: 0,
                shutdown: false,
                worker_idle: false,
                stats: SinkStats::default(),
            }),
            wake_worker: Condvar::new(),
            wake_callers: Condvar::new(),
            capacity: capacity.max(1),
            block_timeout,
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run(&for_thread, consumer, flush_interval))
            .map_err(AuditError::Io)?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) fn push(&self, item: T) {
        let shared = &*self.shared;
        let mut state = shared.state.lock();
        if state.items.len() >= shared.capacity {
            if item.droppable() {
                state.pending_drops += 1;
                state.stats.dropped += 1;
                return;
            }
            let deadline = Instant::now() + shared.block_timeout;
            while state.items.len() >= shared.capacity && !state.shutdown {
                if state.worker_idle {
                    shared.wake_worker.notify_one();
                }
                if shared
                    .wake_callers
                    .wait_until(&mut state, deadline)
                    .timed_out()
                {
                    break;
                }
            }
            if state.items.len() >= shared.capacity {
                state.stats.spilled += 1;
            }
        }
        state.items.push_back(item);
        let wake = state.worker_idle && state.items.len() >= shared.capacity.div_ceil(2);
        drop(state);
        if wake {
            shared.wake_worker.notify_one();
        }
    }

    /// Asks the worker to handle and flush everything queued so far, waiting up to `timeout`.
    /// Returns whether that happened in time.
    pub(crate) fn flush_within(&self, timeout: Duration) -> bool {
        let shared = &*self.shared;
        let mut state = shared.state.lock();
        state.flush_requested += 1;
        let ticket = state.flush_requested;
        shared.wake_worker.notify_one();
        let deadline = Instant::now() + timeout;
        while state.flushed < ticket && !state.shutdown {
            if shared
                .wake_callers
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                break;
            }
        }
        state.flushed >= ticket
    }

    pub(crate) fn stats(&self) -> SinkStats {
        self.shared.state.lock().stats
    }
}

impl<T> Drop for Queued<T> {
    fn drop(&mut self) {
        self.shared.state.lock().shutdown = true;
        self.shared.wake_worker.notify_one();
        self.shared.wake_callers.notify_all();
        if let Some(thread) = self.thread.lock().take() {
            // The worker drains the queue and flushes before it exits.
            let _ = thread.join();
        }
    }
}

fn run<T>(shared: &Shared<T>, mut consumer: impl Consumer<T>, flush_interval: Option<Duration>) {
    let mut batch: VecDeque<T> = VecDeque::new();
    let mut last_flush = Instant::now();
    let mut dirty = false;
    loop {
        let (drops, flush_ticket, shutdown) = {
            let mut state = shared.state.lock();
            while state.items.is_empty()
                && state.pending_drops == 0
                && state.flush_requested == state.flushed
                && !state.shutdown
            {
                let until_flush = match flush_interval {
                    Some(i) if dirty => i.saturating_sub(last_flush.elapsed()),
                    _ => TICK,
                };
                state.worker_idle = true;
                let timed_out = shared
                    .wake_worker
                    .wait_for(&mut state, until_flush.min(TICK))
                    .timed_out();
                state.worker_idle = false;
                if timed_out && dirty && until_flush <= TICK {
                    break;
                }
            }
            std::mem::swap(&mut batch, &mut state.items);
            let drops = std::mem::take(&mut state.pending_drops);
            (drops, state.flush_requested, state.shutdown)
        };
        shared.wake_callers.notify_all();

        let mut delta = SinkStats::default();
        let had_work = drops > 0 || !batch.is_empty();
        if had_work {
            consumer.consume(drops, &mut batch, &mut delta);
            batch.clear();
        }
        dirty |= had_work;

        let interval_due = flush_interval.is_some_and(|i| last_flush.elapsed() >= i);
        let requested = flush_ticket > shared.state.lock().flushed;
        let flush_now = shutdown || requested || (dirty && interval_due);
        if flush_now {
            if dirty {
                consumer.flush(&mut delta);
                dirty = false;
            }
            last_flush = Instant::now();
        }
        let mut state = shared.state.lock();
        state.stats.written += delta.written;
        state.stats.lost += delta.lost;
        state.stats.errors += delta.errors;
        state.stats.rotations = state.stats.rotations.max(delta.rotations);
        if flush_now {
            state.flushed = state.flushed.max(flush_ticket);
        }
        if shutdown && state.items.is_empty() && state.pending_drops == 0 {
            state.flushed = state.flush_requested;
            drop(state);
            shared.wake_callers.notify_all();
            return;
        }
        drop(state);
        shared.wake_callers.notify_all();
    }
}
