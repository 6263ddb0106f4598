//! Conversation state in Redis, so every instance of a fleet sees a session's scan flag,
//! sentiment and recent messages. One round trip per operation; every key of a session shares
//! the hash tag `{s:<session>}` (one slot on Redis Cluster).

use std::sync::Arc;

use redis::Script;

use crate::store::sessions::{head, tail};
use crate::store::{
    SessionSnapshot, SessionStore, SessionUpdate, StoreError, Timestamp, MAX_NOTE_BYTES,
    RECENT_MESSAGES, RECENT_MESSAGE_BYTES, RECENT_VERDICTS, SENTIMENT_SCORES,
};

use super::conn::Pool;
use super::{escape, garbage, ms, Core};

pub(crate) struct SessionScripts {
    record: Script,
    clear: Script,
}

impl SessionScripts {
    pub(crate) fn new() -> Self {
        Self {
            record: Script::new(include_str!("lua/session_record.lua")),
            clear: Script::new(include_str!("lua/session_clear.lua")),
        }
    }
}

/// The Redis [`SessionStore`], on the pool of the [`super::RedisStore`] it came from
/// ([`crate::store::Store::session_store`]). Keys live for the session TTL after the session's
/// newest message (default [`crate::store::DEFAULT_SESSION_TTL`]); `now` is not needed.
pub struct RedisSessionStore {
    pub(crate) pool: Arc<Pool>,
    pub(crate) core: Arc<Core>,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl Core {
    pub(crate) fn session_keys(&self, session: &str) -> [String; 4] {
        let base = format!("{}:{{s:{}}}", self.prefix, escape(session));
        [
            format!("{base}:m"),
            format!("{base}:e"),
            format!("{base}:v"),
            format!("{base}:f"),
        ]
    }
}

fn flag(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

impl SessionStore for RedisSessionStore {
    fn recent(&self, session: &str, _now: Timestamp) -> Result<Vec<String>, StoreError> {
        let [m, ..] = self.core.session_keys(session);
        let mut cmd = redis::cmd("LRANGE");
        cmd.arg(m).arg(0).arg(-1);
        self.pool.run("session recent", true, |c| cmd.query(c))
    }

    fn record(
        &self,
        session: &str,
        update: &SessionUpdate<'_>,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        if update.is_empty() {
            return Ok(());
        }
        let keys = self.core.session_keys(session);
        let mut inv = self.core.scripts.sessions.record.prepare_invoke();
        for k in &keys {
            inv.key(k);
        }
        inv.arg(ms(self.core.session_ttl).max(1))
            .arg(flag(update.message.is_some()))
            .arg(update.message.map_or("", |m| tail(m, RECENT_MESSAGE_BYTES)))
            .arg(flag(update.sentiment.is_some()))
            // `{:?}` prints the shortest text that parses back to the same f64.
            .arg(
                update
                    .sentiment
                    .map(|s| format!("{s:?}"))
                    .unwrap_or_default(),
            )
            .arg(flag(update.flag.is_some()))
            .arg(update.flag.map_or("", |r| head(r, MAX_NOTE_BYTES)))
            .arg(flag(update.verdict.is_some()))
            .arg(update.verdict.map_or("", |v| head(v, MAX_NOTE_BYTES)))
            .arg(RECENT_MESSAGES)
            .arg(SENTIMENT_SCORES)
            .arg(RECENT_VERDICTS);
        // Not retried: a message remembered twice would be joined with itself.
        let _: String = self.pool.run("session record", false, |c| inv.invoke(c))?;
        Ok(())
    }

    fn snapshot(&self, session: &str, _now: Timestamp) -> Result<SessionSnapshot, StoreError> {
        let [m, e, v, f] = self.core.session_keys(session);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("LRANGE")
            .arg(&m)
            .arg(0)
            .arg(-1)
            .cmd("HMGET")
            .arg(&f)
            .arg("rule")
            .arg("seq")
            .cmd("LRANGE")
            .arg(&e)
            .arg(0)
            .arg(-1)
            .cmd("LRANGE")
            .arg(&v)
            .arg(0)
            .arg(-1);
        type Reply = (
            Vec<String>,
            (Option<String>, Option<String>),
            Vec<String>,
            Vec<String>,
        );
        let (recent, (rule, seq), scores, verdicts): Reply =
            self.pool.run("session snapshot", true, |c| pipe.query(c))?;
        let flag_seq = match seq {
            Some(s) => s.parse::<u64>().map_err(|_| garbage("session flag"))?,
            None => 0,
        };
        let sentiment = scores
            .iter()
            .map(|s| s.parse::<f64>().map_err(|_| garbage("session sentiment")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SessionSnapshot {
            recent,
            flag: rule,
            flag_seq,
            sentiment,
            verdicts,
        })
    }

    fn clear_flag(&self, session: &str, seq: u64, _now: Timestamp) -> Result<(), StoreError> {
        let [.., f] = self.core.session_keys(session);
        let mut inv = self.core.scripts.sessions.clear.prepare_invoke();
        inv.key(f).arg(seq);
        let _: String = self
            .pool
            .run("session clear_flag", true, |c| inv.invoke(c))?;
        Ok(())
    }
}
