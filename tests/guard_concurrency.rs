//! 8 threads × 1000 refund attempts for one customer through the `Guard`, with a blueprint in
//! which only the daily limit can fire: the committed total never exceeds the limit, equals the
//! sum of allowed calls, and the limit is actually reached.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;

use guard_core::store::{ManualClock, MemoryStore, Timestamp};
use guard_core::{Blueprint, Guard, Intervention, Session, ToolCall};
use serde_json::json;

const LIMIT_MINOR: i64 = 75_000;

fn blueprint() -> Blueprint {
    // Frequency, approval, per-transaction, weekly and agent-wide limits far away; trust floors
    // at zero (and penalties off in the guard) so thousands of daily-limit blocks cannot
    // escalate the customer first.
    Blueprint::from_yaml_str(
        "blueprint: contention\nacl_tier: ACL-0\ncurrency: USD\nagents:\n  bot:\n    tools: [refund]\n\
         tools:\n  refund: { kind: refund, customer_param: customer_id, approval_above: 1000000 }\n\
         tripwires:\n  max_refund: 1000000\n  daily_user_refund_limit: 750\n  weekly_user_refund_limit: 1000000\n  \
         refund_frequency_threshold: 100000\n  agent_hourly_refund_limit: 100000000\n\
         trust:\n  escalate_below: 0\n  block_below: 0\n",
        "contention.yaml",
    )
    .unwrap()
}

#[test]
fn eight_threads_never_pass_the_daily_limit_together() {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(Timestamp::from_millis(1_790_000_000_000));
    let guard = Guard::builder()
        .blueprint(blueprint())
        .store(Arc::clone(&store))
        .clock(clock)
        .trust_penalties(guard_core::store::TrustPenalties::none())
        .build()
        .unwrap();
    let allowed_sum = Arc::new(AtomicI64::new(0));
    let allowed_calls = Arc::new(AtomicU32::new(0));
    let other = Arc::new(AtomicU32::new(0));
    std::thread::scope(|scope| {
        for t in 0..8 {
            let guard = guard.clone();
            let (allowed_sum, allowed_calls, other) = (
                Arc::clone(&allowed_sum),
                Arc::clone(&allowed_calls),
                Arc::clone(&other),
            );
            scope.spawn(move || {
                for i in 0..1000u32 {
                    // 1.00 to 9.99: amounts that stack unevenly against the limit.
                    let cents = 100 + i64::from((i * 37 + t * 11) % 900);
                    let amount = format!("{}.{:02}", cents / 100, cents % 100);
                    let id = format!("t{t}-{i}");
                    let call = ToolCall::new("bot", "refund", Session::authenticated("C-1", "s"))
                        .with_id(id.clone())
                        .with_params(json!({"customer_id": "C-1", "amount": amount}));
                    let d = guard.pre_execution_check(&call);
                    match d.intervention() {
                        Intervention::Ok | Intervention::Nudge => {
                            guard.commit(&id).unwrap();
                            allowed_sum.fetch_add(cents, Ordering::SeqCst);
                            allowed_calls.fetch_add(1, Ordering::SeqCst);
                        }
                        Intervention::Block => {
                            assert!(d.has_reason("daily_limit_exceeded"), "{:?}", d.reasons())
                        }
                        _ => {
                            other.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(
        other.load(Ordering::SeqCst),
        0,
        "only the daily limit may fire"
    );
    let sum = allowed_sum.load(Ordering::SeqCst);
    assert!(
        sum <= LIMIT_MINOR,
        "committed {sum} above the limit {LIMIT_MINOR}"
    );
    // Reached: no allowed amount (at least 1.00) would still fit.
    assert!(LIMIT_MINOR - sum < 100, "the limit was not reached: {sum}");
    // The store's own total agrees with the sum of allowed calls.
    let probe = ToolCall::new("bot", "refund", Session::authenticated("C-1", "s"))
        .with_id("probe")
        .with_params(json!({"customer_id": "C-1", "amount": "0.01"}));
    let d = guard.pre_execution_check(&probe);
    // The message reports the window's total with the probe's 0.01 included.
    let with_probe = sum + 1;
    let total = format!("{}.{:02} USD", with_probe / 100, with_probe % 100);
    let daily = d
        .reasons()
        .iter()
        .find(|r| r.code().contains("daily"))
        .map(|r| r.message().to_owned())
        .unwrap_or_default();
    assert!(
        daily.contains(&total),
        "store total should be {total}: {daily}"
    );
    assert!(allowed_calls.load(Ordering::SeqCst) > 50);
}
