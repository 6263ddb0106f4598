//! What the guard remembers about a conversation between calls: its recent messages (so an
//! instruction split across messages is seen), a pending weak scan signal (the next money
//! action FLAGs), its sentiment, and short summaries of recent verdicts for reviewers.
//!
//! Sharded like the store, so sessions do not contend on one lock, and bounded: each shard
//! forgets its oldest session first.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use parking_lot::Mutex;

use crate::signals::SentimentTracker;

const SHARDS: usize = 16;
const SESSIONS_PER_SHARD: usize = 8_192;
const RECENT_MESSAGES: usize = 4;
const RECENT_MESSAGE_BYTES: usize = 4096;
const RECENT_VERDICTS: usize = 8;

#[derive(Debug, Default)]
pub(crate) struct SessionState {
    pub recent: VecDeque<String>,
    /// The rule of a weak scan signal not yet acted on.
    pub flagged: Option<String>,
    pub sentiment: SentimentTracker,
    pub verdicts: VecDeque<String>,
}

impl SessionState {
    pub(crate) fn remember(&mut self, text: &str) {
        if self.recent.len() >= RECENT_MESSAGES {
            self.recent.pop_front();
        }
        // Only the tail matters for a split instruction.
        let mut start = text.len().saturating_sub(RECENT_MESSAGE_BYTES);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        self.recent
            .push_back(text.get(start..).unwrap_or("").to_owned());
    }

    pub(crate) fn note_verdict(&mut self, summary: String) {
        if self.verdicts.len() >= RECENT_VERDICTS {
            self.verdicts.pop_front();
        }
        self.verdicts.push_back(summary);
    }
}

#[derive(Default)]
struct Shard {
    sessions: HashMap<String, SessionState>,
    order: VecDeque<String>,
}

pub(crate) struct Sessions {
    shards: Vec<Mutex<Shard>>,
    hasher: std::collections::hash_map::RandomState,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl Sessions {
    fn shard(&self, id: &str) -> Option<&Mutex<Shard>> {
        let n = usize::try_from(self.hasher.hash_one(id) % SHARDS as u64).unwrap_or(0);
        self.shards.get(n)
    }

    /// Runs `f` on the session's state, creating it if needed.
    pub(crate) fn with<T>(&self, id: &str, f: impl FnOnce(&mut SessionState) -> T) -> Option<T> {
        let mut shard = self.shard(id)?.lock();
        if !shard.sessions.contains_key(id) {
            if shard.order.len() >= SESSIONS_PER_SHARD {
                if let Some(old) = shard.order.pop_front() {
                    shard.sessions.remove(&old);
                }
            }
            shard.order.push_back(id.to_owned());
        }
        Some(f(shard.sessions.entry(id.to_owned()).or_default()))
    }

    /// Runs `f` on the session's state only if it exists.
    pub(crate) fn peek<T>(&self, id: &str, f: impl FnOnce(&mut SessionState) -> T) -> Option<T> {
        let mut shard = self.shard(id)?.lock();
        shard.sessions.get_mut(id).map(f)
    }
}
