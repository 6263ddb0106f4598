//! The async (tokio) twin of [`super::RedisStore`]: the same scripts over redis's
//! `ConnectionManager`, which multiplexes one connection and reconnects in the background.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, RedisResult};

use crate::store::facts::{Facts, ReserveRequest};
use crate::store::trust::{Penalty, PenaltyReceipt, TrustEntry};
use crate::store::window::Settlement;
use crate::store::{AsyncStore, StoreError, Timestamp};

use super::{garbage, penalty_amount, server_now, Core};

/// The async Redis [`AsyncStore`] (tokio). Every call is bounded by the connect plus response
/// timeouts, whatever the connection manager is doing (reconnecting, backing off).
///
/// ```no_run
/// # async fn run() -> Result<(), guard_core::store::StoreError> {
/// use guard_core::store::redis::RedisStore;
/// use guard_core::store::{AsyncStore, Timestamp};
/// let store = RedisStore::builder("redis://127.0.0.1:6379").build_async()?;
/// store.record_account_change("C-1", Timestamp::from_millis(1_700_000_000_000)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AsyncRedisStore {
    con: ConnectionManager,
    core: Arc<Core>,
    budget: Duration,
}

impl std::fmt::Debug for AsyncRedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRedisStore")
            .field("url", &self.core.redactor.url)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl AsyncRedisStore {
    pub(crate) fn new(
        client: redis::Client,
        core: Arc<Core>,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<Self, StoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::Unavailable(
                "the async redis store must be built inside a tokio runtime".to_owned(),
            ));
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(response_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let con = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| core.redactor.unavailable("connect", &e))?;
        Ok(Self {
            con,
            core,
            budget: connect_timeout.saturating_add(response_timeout),
        })
    }

    /// Round trip to the server (`PING`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let cmd = redis::cmd("PING");
        self.run("ping", |mut con| async move {
            cmd.query_async::<String>(&mut con).await
        })
        .await
        .map(|_| ())
    }

    pub(crate) fn core_arc(&self) -> Arc<Core> {
        Arc::clone(&self.core)
    }

    pub(crate) async fn run<T, F, Fut>(&self, what: &str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        match tokio::time::timeout(self.budget, f(self.con.clone())).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.core.redactor.unavailable(what, &e)),
            Err(_) => Err(self.core.redactor.unavailable(
                what,
                &RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)),
            )),
        }
    }
}

impl AsyncStore for AsyncRedisStore {
    fn check_and_reserve(
        &self,
        request: &ReserveRequest<'_>,
        now: Timestamp,
    ) -> impl Future<Output = Result<Facts, StoreError>> + Send {
        let prepared = self.core.reserve(request, now);
        let request = request.clone();
        async move {
            let (inv, currency) = prepared?;
            let reply: Vec<String> = self
                .run("check_and_reserve", |mut con| async move {
                    inv.invoke_async(&mut con).await
                })
                .await?;
            self.core.facts(&request, currency, &reply)
        }
    }

    fn commit(
        &self,
        call_id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Settlement, StoreError>> + Send {
        let inv = self.core.settle(call_id, true, now);
        async move {
            let reply: String = self
                .run("commit", |mut con| async move {
                    inv.invoke_async(&mut con).await
                })
                .await?;
            Core::settlement(&reply)
        }
    }

    fn release(
        &self,
        call_id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Settlement, StoreError>> + Send {
        let inv = self.core.settle(call_id, false, now);
        async move {
            let reply: String = self
                .run("release", |mut con| async move {
                    inv.invoke_async(&mut con).await
                })
                .await?;
            Core::settlement(&reply)
        }
    }

    fn record_account_change(
        &self,
        customer: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let inv = self.core.account_change(customer, now);
        async move {
            self.run("record_account_change", |mut con| async move {
                inv.invoke_async::<String>(&mut con).await
            })
            .await
            .map(|_| ())
        }
    }

    fn trust(
        &self,
        customer: &str,
        half_life: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<f64, StoreError>> + Send {
        let cmd = self.core.trust_cmd(customer);
        let server_time = self.core.server_time;
        async move {
            let reply: Vec<Option<String>> = self
                .run(
                    "trust",
                    |mut con| async move { cmd.query_async(&mut con).await },
                )
                .await?;
            let now = if server_time {
                let t: Vec<String> = self
                    .run("time", |mut con| async move {
                        redis::cmd("TIME").query_async(&mut con).await
                    })
                    .await?;
                server_now(&t)?
            } else {
                now
            };
            Core::trust_reply(&reply, half_life, now)
        }
    }

    fn penalize(
        &self,
        customer: &str,
        penalty: Penalty<'_>,
        half_life: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<PenaltyReceipt>, StoreError>> + Send {
        let amount = penalty_amount(&penalty);
        let inv = amount.map(|a| {
            self.core
                .penalize(customer, a, penalty.code, half_life, now)
        });
        let customer = customer.to_owned();
        let code = penalty.code.to_owned();
        async move {
            let (Some(amount), Some(inv)) = (amount, inv) else {
                return Ok(None);
            };
            let reply: Vec<String> = self
                .run("penalize", |mut con| async move {
                    inv.invoke_async(&mut con).await
                })
                .await?;
            Core::receipt(&customer, amount, &code, &reply).map(Some)
        }
    }

    fn refund_penalty(
        &self,
        receipt: &PenaltyReceipt,
        half_life: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<f64, StoreError>> + Send {
        let inv = self.core.refund(receipt, half_life, now);
        async move {
            let reply: String = self
                .run("refund_penalty", |mut con| async move {
                    inv.invoke_async(&mut con).await
                })
                .await?;
            reply.parse::<f64>().map_err(|_| garbage("refund_penalty"))
        }
    }

    fn trust_history(
        &self,
        customer: &str,
    ) -> impl Future<Output = Result<Vec<TrustEntry>, StoreError>> + Send {
        let cmd = self.core.history_cmd(customer);
        async move {
            let reply: Vec<String> = self
                .run("trust_history", |mut con| async move {
                    cmd.query_async(&mut con).await
                })
                .await?;
            Core::history(&reply)
        }
    }

    fn prune(&self, _now: Timestamp) -> impl Future<Output = Result<usize, StoreError>> + Send {
        std::future::ready(Ok(0))
    }
}
