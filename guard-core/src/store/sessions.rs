//! What the guard remembers about a conversation between calls, behind a trait so a fleet can
//! share it: the recent customer messages (an instruction split across messages, sent to
//! different instances, is still seen whole), a pending weak scan signal (the next money action
//! FLAGs, on whichever instance it arrives), the customer's message sentiment scores, and short
//! summaries of recent verdicts for reviewers.
//!
//! Every operation is one round trip on a network implementation. Sizes are bounded (see the
//! constants); a session nobody touched for [`DEFAULT_SESSION_TTL`] is forgotten.
//!
//! Sentiment is kept as the raw scores of the last [`SENTIMENT_SCORES`] messages with sentiment
//! and smoothed when read ([`SessionSnapshot::sentiment`]): appending a score is order-safe
//! across instances, where a smoothed value read, updated and written back is not.
//!
//! ```
//! use guard_core::store::{MemorySessionStore, SessionStore, SessionUpdate, Timestamp};
//! let sessions = MemorySessionStore::new();
//! let now = Timestamp::from_millis(1_700_000_000_000);
//! sessions.record("s-1", &SessionUpdate::message("first half of a sentence").flag("split"), now)?;
//! let snap = sessions.snapshot("s-1", now)?;
//! assert_eq!(snap.recent(), ["first half of a sentence"]);
//! assert_eq!(snap.flag(), Some("split"));
//! sessions.clear_flag("s-1", snap.flag_seq(), now)?;
//! assert_eq!(sessions.snapshot("s-1", now)?.flag(), None);
//! # Ok::<(), guard_core::store::StoreError>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::time::Duration;

use parking_lot::Mutex;

use crate::signals::SentimentTracker;

use super::clock::Timestamp;
use super::StoreError;

/// Recent customer messages kept per session (context for split injections).
pub const RECENT_MESSAGES: usize = 4;
/// Only the tail of a message matters for a split instruction: longer ones are cut to this.
pub const RECENT_MESSAGE_BYTES: usize = 4096;
/// Raw sentiment scores kept per session; smoothing over more than this changes the result by
/// less than 2⁻¹⁶ with the default smoothing.
pub const SENTIMENT_SCORES: usize = 16;
/// Verdict summaries kept per session (for reviewers).
pub const RECENT_VERDICTS: usize = 8;
/// Longest stored flag rule or verdict summary.
pub const MAX_NOTE_BYTES: usize = 256;
/// A session untouched this long is forgotten (a conversation does not span a day of silence).
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(24 * 3600);

const SHARDS: usize = 16;
const SESSIONS_PER_SHARD: usize = 8_192;

/// What one scanned message leaves behind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionUpdate<'a> {
    pub(crate) message: Option<&'a str>,
    pub(crate) sentiment: Option<f64>,
    pub(crate) flag: Option<&'a str>,
    pub(crate) verdict: Option<&'a str>,
}

impl<'a> SessionUpdate<'a> {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Remember a customer message (its last [`RECENT_MESSAGE_BYTES`]).
    pub fn message(text: &'a str) -> Self {
        Self {
            message: Some(text),
            ..Self::default()
        }
    }
    /// The message's sentiment score in `[-1, 1]` (only for messages that carry sentiment; NaN
    /// is ignored).
    pub fn sentiment(mut self, score: f64) -> Self {
        self.sentiment = (!score.is_nan()).then_some(score.clamp(-1.0, 1.0));
        self
    }
    /// A weak scan signal: the session's next money action FLAGs.
    pub fn flag(mut self, rule: &'a str) -> Self {
        self.flag = Some(rule);
        self
    }
    /// A one-line summary of the verdict, for reviewers.
    pub fn verdict(mut self, summary: &'a str) -> Self {
        self.verdict = Some(summary);
        self
    }
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.message.is_none()
            && self.sentiment.is_none()
            && self.flag.is_none()
            && self.verdict.is_none()
    }
}

/// Everything a check reads about a session, in one round trip.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionSnapshot {
    pub(crate) recent: Vec<String>,
    pub(crate) flag: Option<String>,
    pub(crate) flag_seq: u64,
    pub(crate) sentiment: Vec<f64>,
    pub(crate) verdicts: Vec<String>,
}

impl SessionSnapshot {
    /// Recent customer messages, oldest first.
    pub fn recent(&self) -> &[String] {
        &self.recent
    }
    /// The rule of a weak scan signal not yet acted on.
    pub fn flag(&self) -> Option<&str> {
        self.flag.as_deref()
    }
    /// Which flag this is: [`SessionStore::clear_flag`] clears only this one, never a flag set
    /// after the snapshot was taken.
    pub fn flag_seq(&self) -> u64 {
        self.flag_seq
    }
    /// Raw sentiment scores of recent messages, oldest first.
    pub fn sentiment_scores(&self) -> &[f64] {
        &self.sentiment
    }
    /// The scores smoothed by a default [`SentimentTracker`].
    pub fn sentiment(&self) -> SentimentTracker {
        let mut t = SentimentTracker::new();
        for s in &self.sentiment {
            t.observe_score(*s);
        }
        t
    }
    /// Verdict summaries, oldest first.
    pub fn verdicts(&self) -> &[String] {
        &self.verdicts
    }
}

/// Conversation state shared by every guard that serves a session. A network implementation
/// answers each method in one round trip and reports an unreachable backend as
/// [`StoreError::Unavailable`]; the guard then BLOCKs money actions with `store_unavailable`.
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// The session's recent customer messages, oldest first.
    fn recent(&self, session: &str, now: Timestamp) -> Result<Vec<String>, StoreError>;
    /// Applies what a scanned message leaves behind, atomically.
    fn record(
        &self,
        session: &str,
        update: &SessionUpdate<'_>,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Everything a check reads.
    fn snapshot(&self, session: &str, now: Timestamp) -> Result<SessionSnapshot, StoreError>;
    /// Clears the flag numbered `seq` (from a snapshot) once a money action was allowed; a flag
    /// set since then stays.
    fn clear_flag(&self, session: &str, seq: u64, now: Timestamp) -> Result<(), StoreError>;
}

/// One session store shared by several guards (an `Arc` of it is a store too).
impl<S: SessionStore + ?Sized> SessionStore for std::sync::Arc<S> {
    fn recent(&self, session: &str, now: Timestamp) -> Result<Vec<String>, StoreError> {
        (**self).recent(session, now)
    }
    fn record(
        &self,
        session: &str,
        update: &SessionUpdate<'_>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        (**self).record(session, update, now)
    }
    fn snapshot(&self, session: &str, now: Timestamp) -> Result<SessionSnapshot, StoreError> {
        (**self).snapshot(session, now)
    }
    fn clear_flag(&self, session: &str, seq: u64, now: Timestamp) -> Result<(), StoreError> {
        (**self).clear_flag(session, seq, now)
    }
}

/// The tail of `text` worth keeping for split-injection context.
pub(crate) fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text.get(start..).unwrap_or("")
}

/// The head of a note (rule or summary), cut on a character boundary.
pub(crate) fn head(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

#[derive(Debug, Default)]
struct State {
    recent: VecDeque<String>,
    flag: Option<String>,
    flag_seq: u64,
    sentiment: VecDeque<f64>,
    verdicts: VecDeque<String>,
    touched: Timestamp,
}

fn push<T>(q: &mut VecDeque<T>, v: T, cap: usize) {
    while q.len() >= cap {
        q.pop_front();
    }
    q.push_back(v);
}

#[derive(Default)]
struct Shard {
    sessions: HashMap<String, State>,
    order: VecDeque<String>,
}

/// The in-process [`SessionStore`] (the default): sharded so sessions do not contend on one
/// lock, and bounded: each shard forgets its oldest session first, and any session idle for the
/// TTL.
pub struct MemorySessionStore {
    shards: Vec<Mutex<Shard>>,
    hasher: std::collections::hash_map::RandomState,
    ttl: Duration,
}

impl std::fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Default for MemorySessionStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySessionStore {
    /// A store forgetting sessions idle for [`DEFAULT_SESSION_TTL`].
    pub fn new() -> Self {
        Self::with_ttl(DEFAULT_SESSION_TTL)
    }

    /// A store forgetting sessions idle for `ttl`.
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            ttl,
        }
    }

    fn shard(&self, id: &str) -> Result<&Mutex<Shard>, StoreError> {
        let n = usize::try_from(self.hasher.hash_one(id) % SHARDS as u64).unwrap_or(0);
        self.shards
            .get(n)
            .ok_or(StoreError::Internal("session shard out of range"))
    }

    fn live<'s>(&self, shard: &'s mut Shard, id: &str, now: Timestamp) -> Option<&'s mut State> {
        let expired = shard
            .sessions
            .get(id)
            .is_some_and(|s| now.since(s.touched) >= self.ttl);
        if expired {
            shard.sessions.remove(id);
        }
        shard.sessions.get_mut(id)
    }
}

impl SessionStore for MemorySessionStore {
    fn recent(&self, session: &str, now: Timestamp) -> Result<Vec<String>, StoreError> {
        let mut shard = self.shard(session)?.lock();
        Ok(self
            .live(&mut shard, session, now)
            .map(|s| s.recent.iter().cloned().collect())
            .unwrap_or_default())
    }

    fn record(
        &self,
        session: &str,
        update: &SessionUpdate<'_>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if update.is_empty() {
            return Ok(());
        }
        let mut shard = self.shard(session)?.lock();
        if self.live(&mut shard, session, now).is_none() {
            if shard.order.len() >= SESSIONS_PER_SHARD {
                if let Some(old) = shard.order.pop_front() {
                    shard.sessions.remove(&old);
                }
            }
            shard.order.retain(|o| o != session);
            shard.order.push_back(session.to_owned());
        }
        let s = shard.sessions.entry(session.to_owned()).or_default();
        s.touched = s.touched.max(now);
        if let Some(m) = update.message {
            push(
                &mut s.recent,
                tail(m, RECENT_MESSAGE_BYTES).to_owned(),
                RECENT_MESSAGES,
            );
        }
        if let Some(score) = update.sentiment {
            push(&mut s.sentiment, score, SENTIMENT_SCORES);
        }
        if let Some(rule) = update.flag {
            s.flag = Some(head(rule, MAX_NOTE_BYTES).to_owned());
            s.flag_seq = s.flag_seq.saturating_add(1);
        }
        if let Some(v) = update.verdict {
            push(
                &mut s.verdicts,
                head(v, MAX_NOTE_BYTES).to_owned(),
                RECENT_VERDICTS,
            );
        }
        Ok(())
    }

    fn snapshot(&self, session: &str, now: Timestamp) -> Result<SessionSnapshot, StoreError> {
        let mut shard = self.shard(session)?.lock();
        Ok(self
            .live(&mut shard, session, now)
            .map(|s| SessionSnapshot {
                recent: s.recent.iter().cloned().collect(),
                flag: s.flag.clone(),
                flag_seq: s.flag_seq,
                sentiment: s.sentiment.iter().copied().collect(),
                verdicts: s.verdicts.iter().cloned().collect(),
            })
            .unwrap_or_default())
    }

    fn clear_flag(&self, session: &str, seq: u64, now: Timestamp) -> Result<(), StoreError> {
        let mut shard = self.shard(session)?.lock();
        if let Some(s) = self.live(&mut shard, session, now) {
            if s.flag_seq == seq {
                s.flag = None;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_flag_cleared_only_by_its_own_seq() {
        let m = MemorySessionStore::new();
        let t = Timestamp::from_millis(1_000);
        for i in 0..10 {
            let text = format!("message {i}");
            let u = SessionUpdate::message(&text).sentiment(f64::from(i) / 10.0);
            m.record("s", &u, t).unwrap();
        }
        let snap = m.snapshot("s", t).unwrap();
        assert_eq!(snap.recent().len(), RECENT_MESSAGES);
        assert_eq!(snap.recent().last().unwrap(), "message 9");
        assert_eq!(snap.sentiment_scores().len(), 10);
        m.record("s", &SessionUpdate::new().flag("a"), t).unwrap();
        let seen = m.snapshot("s", t).unwrap();
        m.record("s", &SessionUpdate::new().flag("b"), t).unwrap();
        m.clear_flag("s", seen.flag_seq(), t).unwrap();
        assert_eq!(m.snapshot("s", t).unwrap().flag(), Some("b"));
        let long = "é".repeat(RECENT_MESSAGE_BYTES);
        m.record("s", &SessionUpdate::message(&long), t).unwrap();
        let kept = m.snapshot("s", t).unwrap().recent().last().unwrap().len();
        assert!(kept <= RECENT_MESSAGE_BYTES && kept > 0);
    }

    #[test]
    fn idle_sessions_are_forgotten_after_the_ttl() {
        let m = MemorySessionStore::with_ttl(Duration::from_secs(60));
        let t = Timestamp::from_millis(1_000);
        m.record("s", &SessionUpdate::new().flag("x"), t).unwrap();
        let later = Timestamp::from_millis(1_000 + 59_999);
        assert_eq!(m.snapshot("s", later).unwrap().flag(), Some("x"));
        let gone = Timestamp::from_millis(1_000 + 60_000);
        assert_eq!(m.snapshot("s", gone).unwrap().flag(), None);
    }
}
