//! Injected time. Nothing in the store reads the system clock: every operation takes `now`, so
//! a week of traffic replays in milliseconds and a network store can take the same `now` as a
//! script argument.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
///
/// ```
/// use guard_core::store::Timestamp;
/// use std::time::Duration;
/// let t = Timestamp::from_millis(1_000);
/// assert_eq!(t.saturating_add(Duration::from_secs(1)).as_millis(), 2_000);
/// assert_eq!(t.saturating_sub(Duration::from_secs(5)), Timestamp::EPOCH);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Self = Self(0);

    /// From milliseconds since the Unix epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// From a `SystemTime`; times before the epoch become the epoch.
    pub fn from_system_time(t: SystemTime) -> Self {
        Self(t.duration_since(UNIX_EPOCH).map_or(0, millis))
    }

    /// As a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0)
    }

    /// `self + d`, saturating at the end of time.
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(millis(d)))
    }

    /// `self - d`, saturating at the epoch.
    pub fn saturating_sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(millis(d)))
    }

    /// Time from `earlier` to `self`; zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// Whole milliseconds of a duration, saturating: windows of centuries are still finite.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        Self::from_system_time(t)
    }
}

/// A source of the current time (governor's `Clock`, reduced to what the store needs).
///
/// ```
/// use guard_core::store::{Clock, ManualClock, Timestamp};
/// use std::time::Duration;
/// let clock = ManualClock::new(Timestamp::from_millis(0));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now().as_millis(), 60_000);
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// The system's wall clock: the only place the library reads the time of day.
///
/// ```
/// use guard_core::store::{Clock, SystemClock};
/// assert!(SystemClock.now().as_millis() > 0);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_system_time(SystemTime::now())
    }
}

/// A clock that moves only when told to. Clones share the same time, so a test (or `guard
/// check`'s `at` field) can hold one handle while the guard holds another.
///
/// ```
/// use guard_core::store::{Clock, ManualClock, Timestamp};
/// let clock = ManualClock::new(Timestamp::from_millis(5));
/// let shared = clock.clone();
/// clock.set(Timestamp::from_millis(9));
/// assert_eq!(shared.now(), Timestamp::from_millis(9));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            millis: Arc::new(AtomicU64::new(start.0)),
        }
    }

    /// Sets the time (backwards too: callers that need monotonic time check it themselves).
    pub fn set(&self, t: Timestamp) {
        self.millis.store(t.0, Ordering::SeqCst);
    }

    /// Moves the time forward by `d`, saturating.
    pub fn advance(&self, d: Duration) {
        let step = millis(d);
        // fetch_update never fails when the closure always returns Some.
        let _ = self
            .millis
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                Some(m.saturating_add(step))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.millis.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_is_shared_and_saturates() {
        let c = ManualClock::new(Timestamp::from_millis(u64::MAX - 1));
        let d = c.clone();
        c.advance(Duration::from_secs(10));
        assert_eq!(d.now().as_millis(), u64::MAX);
        d.set(Timestamp::EPOCH);
        assert_eq!(c.now(), Timestamp::EPOCH);
    }

    #[test]
    fn timestamp_arithmetic_saturates() {
        let t = Timestamp::from_millis(10);
        assert_eq!(t.since(Timestamp::from_millis(20)), Duration::ZERO);
        assert_eq!(
            Timestamp::from_millis(20).since(t),
            Duration::from_millis(10)
        );
        assert_eq!(t.saturating_add(Duration::MAX).as_millis(), u64::MAX);
        let before_epoch = UNIX_EPOCH.checked_sub(Duration::from_secs(1));
        if let Some(b) = before_epoch {
            assert_eq!(Timestamp::from_system_time(b), Timestamp::EPOCH);
        }
        assert_eq!(Timestamp::from_system_time(t.to_system_time()), t);
    }

    #[test]
    fn clocks_behind_pointers() {
        let c = Arc::new(ManualClock::new(Timestamp::from_millis(3)));
        let boxed: Box<dyn Clock> = Box::new(c.clone());
        assert_eq!(boxed.now().as_millis(), 3);
        let by_ref: &ManualClock = &c;
        assert_eq!(Clock::now(&by_ref).as_millis(), 3);
    }
}
