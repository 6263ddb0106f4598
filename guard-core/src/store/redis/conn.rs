//! Connections: a small pool of sync connections that reconnects on error, and the redaction
//! of credentials from everything the store prints.

use std::time::Duration;

use parking_lot::Mutex;
use redis::{Connection, RedisError, RedisResult};

use crate::store::StoreError;

/// Removes the `user:password@` part of a URL, and the secrets themselves from any text.
#[derive(Clone)]
pub(crate) struct Redactor {
    /// The URL with its credentials replaced by `***`.
    pub(crate) url: String,
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl Redactor {
    pub(crate) fn new(url: &str) -> Self {
        let scheme = url.find("://");
        let at = url.rfind('@');
        match (scheme, at) {
            (Some(s), Some(a)) if a > s + 3 => {
                let userinfo = url.get(s + 3..a).unwrap_or("");
                let mut secrets = vec![userinfo.to_owned()];
                if let Some((user, pass)) = userinfo.split_once(':') {
                    secrets.push(pass.to_owned());
                    secrets.push(user.to_owned());
                } else {
                    secrets.push(userinfo.to_owned());
                }
                // Percent-decoded forms too: the client may print those.
                let decoded: Vec<String> = secrets.iter().map(|s| percent_decode(s)).collect();
                secrets.extend(decoded);
                secrets.retain(|s| s.len() >= 3);
                secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
                secrets.dedup();
                Self {
                    url: format!(
                        "{}://***@{}",
                        url.get(..s).unwrap_or(""),
                        url.get(a + 1..).unwrap_or("")
                    ),
                    secrets,
                }
            }
            _ => Self {
                url: url.to_owned(),
                secrets: Vec::new(),
            },
        }
    }

    /// `text` with every secret of the URL replaced by `***`.
    pub(crate) fn clean(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }

    /// A client error as [`StoreError::Unavailable`], without credentials.
    pub(crate) fn unavailable(&self, what: &str, e: &RedisError) -> StoreError {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connection_refusal() {
            "connection refused"
        } else if e.is_connection_dropped() {
            "connection dropped"
        } else {
            "error"
        };
        StoreError::Unavailable(self.clean(&format!("redis {what} at {}: {kind}: {e}", self.url)))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(0);
        if b == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sync connections, one per concurrent caller, kept for reuse. A connection that saw any error
/// is dropped (a late reply must never be read as the answer to the next command); the next
/// call opens a fresh one, which is how a restarted server is picked up again.
pub(crate) struct Pool {
    client: redis::Client,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
    connect_timeout: Duration,
    response_timeout: Duration,
    pub(crate) redactor: Redactor,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("url", &self.redactor.url)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("max_idle", &self.max_idle)
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub(crate) fn new(
        client: redis::Client,
        redactor: Redactor,
        max_idle: usize,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Self {
        Self {
            client,
            idle: Mutex::new(Vec::new()),
            max_idle,
            connect_timeout,
            response_timeout,
            redactor,
        }
    }

    fn connect(&self) -> RedisResult<Connection> {
        let con = self
            .client
            .get_connection_with_timeout(self.connect_timeout)?;
        con.set_read_timeout(Some(self.response_timeout))?;
        con.set_write_timeout(Some(self.response_timeout))?;
        Ok(con)
    }

    fn give_back(&self, con: Connection) {
        let mut idle = self.idle.lock();
        if idle.len() < self.max_idle {
            idle.push(con);
        }
    }

    /// Runs `f` on a connection. When `idempotent` and a reused connection turns out to be
    /// dead (the server restarted), `f` runs once more on a fresh connection; timeouts are
    /// never retried, so a call is answered within about one connect plus one response timeout.
    pub(crate) fn run<T>(
        &self,
        what: &str,
        idempotent: bool,
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().pop();
        let reused = pooled.is_some();
        let mut con = match pooled {
            Some(c) => c,
            None => self
                .connect()
                .map_err(|e| self.redactor.unavailable(what, &e))?,
        };
        match f(&mut con) {
            Ok(v) => {
                self.give_back(con);
                Ok(v)
            }
            Err(e) if reused && idempotent && !e.is_timeout() && dead(&e) => {
                drop(con);
                // Every idle connection predates the failure: drop them all.
                self.idle.lock().clear();
                let mut fresh = self
                    .connect()
                    .map_err(|e| self.redactor.unavailable(what, &e))?;
                let v = f(&mut fresh).map_err(|e| self.redactor.unavailable(what, &e))?;
                self.give_back(fresh);
                Ok(v)
            }
            Err(e) => {
                if dead(&e) {
                    self.idle.lock().clear();
                }
                Err(self.redactor.unavailable(what, &e))
            }
        }
    }
}

fn dead(e: &RedisError) -> bool {
    e.is_connection_dropped() || e.is_io_error() || e.is_connection_refusal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print() {
        let r = Redactor::new("redis://alice:s3cr%40t@cache.internal:6379/0");
        assert_eq!(r.url, "redis://***@cache.internal:6379/0");
        let text = r.clean("auth failed for alice with s3cr%40t and s3cr@t");
        assert!(!text.contains("s3cr"), "{text}");
        assert!(!text.contains("alice"), "{text}");
        let plain = Redactor::new("redis://127.0.0.1:6379");
        assert_eq!(plain.url, "redis://127.0.0.1:6379");
        assert_eq!(plain.clean("x"), "x");
        let token_only = Redactor::new("rediss://:tok3n@h:1");
        assert_eq!(token_only.url, "rediss://***@h:1");
        assert!(!token_only.clean("tok3n").contains("tok3n"));
    }
}
