//! `#[guard]` on real handlers: what runs, what is denied, and the shapes of functions it
//! accepts (async, methods, generics, `impl Trait`, a shadowed `Result`, a renamed crate).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use guard_core::{
    guard, Denial, Guard, GuardContext, Intervention, MemoryOwnership, Money, Session, ToParam,
};

/// Polls a future that never waits (the guard and these bodies never do) to completion.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

struct SupportCtx {
    guard: Guard,
    session: Session,
    approval: Option<String>,
}

impl GuardContext for SupportCtx {
    fn guard(&self) -> &Guard {
        &self.guard
    }
    fn session(&self) -> &Session {
        &self.session
    }
    fn agent_id(&self) -> &str {
        "support-bot-prod"
    }
    fn approval(&self) -> Option<&str> {
        self.approval.as_deref()
    }
}

fn ctx(customer: &str) -> SupportCtx {
    let mut owners = MemoryOwnership::new();
    owners.insert("order", "A-1", "C-1");
    owners.insert("order", "B-1", "C-2");
    SupportCtx {
        guard: Guard::builder().ownership(owners).build().unwrap(),
        session: Session::authenticated(customer, "s-1"),
        approval: None,
    }
}

#[derive(Debug)]
enum ToolError {
    Denied(Denial),
    Failed(&'static str),
}

impl From<Denial> for ToolError {
    fn from(d: Denial) -> Self {
        ToolError::Denied(d)
    }
}

#[derive(ToParam, Debug, Clone)]
struct CustomerId(String);

#[derive(ToParam, Debug, Clone)]
struct OrderId(String);

thread_local! {
    static RAN: Cell<u32> = const { Cell::new(0) };
}

fn ran() -> u32 {
    RAN.with(Cell::get)
}

fn mark() {
    RAN.with(|r| r.set(r.get() + 1));
}

fn usd(s: &str) -> Money {
    Money::parse(s, guard_core::Currency::from_code("USD").unwrap()).unwrap()
}

#[guard(
    acl_tier = "ACL-2",
    blueprint = "customer-service-v1",
    tripwires(max_refund = 750, approval_above = 500, daily_user_refund_limit = 750)
)]
async fn process_refund(
    ctx: &SupportCtx,
    customer_id: &CustomerId,
    order_id: &OrderId,
    amount: Money,
) -> Result<String, ToolError> {
    mark();
    Ok(format!(
        "refunded {amount} on {} for {}",
        order_id.0, customer_id.0
    ))
}

#[guard(tool = "process_refund", tripwires(max_refund = "100.00"))]
fn process_refund_sync(
    ctx: &SupportCtx,
    customer_id: &str,
    order_id: &str,
    amount: Money,
) -> Result<u32, ToolError> {
    mark();
    if order_id.is_empty() {
        return Err(ToolError::Failed("no order"));
    }
    let _ = (customer_id, amount);
    Ok(7)
}

#[test]
fn an_allowed_call_runs_its_body_once() {
    let c = ctx("C-1");
    let before = ran();
    let out = block_on(process_refund(
        &c,
        &CustomerId("C-1".into()),
        &OrderId("A-1".into()),
        usd("25"),
    ));
    assert_eq!(out.unwrap(), "refunded 25.00 USD on A-1 for C-1");
    assert_eq!(ran(), before + 1);
}

#[test]
fn a_refund_above_the_limit_never_runs_its_body() {
    let c = ctx("C-1");
    let before = ran();
    let out = block_on(process_refund(
        &c,
        &CustomerId("C-1".into()),
        &OrderId("A-1".into()),
        usd("900"),
    ));
    match out {
        Err(ToolError::Denied(d)) => {
            assert_eq!(d.intervention(), Intervention::Block);
            assert!(d.decision().has_reason("max_refund_exceeded"));
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    assert_eq!(ran(), before, "the body must not run");
}

#[test]
fn an_escalated_refund_is_held() {
    let c = ctx("C-1");
    let before = ran();
    let out = block_on(process_refund(
        &c,
        &CustomerId("C-1".into()),
        &OrderId("A-1".into()),
        usd("620"),
    ));
    let Err(ToolError::Denied(d)) = out else {
        panic!("expected a denial")
    };
    assert_eq!(d.intervention(), Intervention::Escalate);
    assert!(d.decision().has_reason("approval_required"));
    assert_eq!(ran(), before);
}

#[test]
fn the_attribute_tightens_the_blueprint_never_loosens_it() {
    let c = ctx("C-1");
    // The sync handler compiles in max_refund 100: tighter than the blueprint's 750.
    let out = process_refund_sync(&c, "C-1", "A-1", usd("150"));
    let Err(ToolError::Denied(d)) = out else {
        panic!("expected a denial")
    };
    assert!(
        d.decision().has_reason("max_refund_exceeded"),
        "{:?}",
        d.decision().reasons()
    );
    assert!(d
        .decision()
        .reasons()
        .iter()
        .any(|r| r.message().contains("100.00 USD")));
    // Allowed calls run; a body that returns early with its own error passes it through.
    assert_eq!(process_refund_sync(&c, "C-1", "A-1", usd("5")).unwrap(), 7);
    let owners_ok = {
        let mut o = MemoryOwnership::new();
        o.insert("order", "", "C-1");
        SupportCtx {
            guard: Guard::builder().ownership(o).build().unwrap(),
            session: Session::authenticated("C-1", "s"),
            approval: None,
        }
    };
    match process_refund_sync(&owners_ok, "C-1", "", usd("5")) {
        Err(ToolError::Failed(why)) => assert_eq!(why, "no order"),
        other => panic!("expected the body's own error, got {other:?}"),
    }
}

#[guard(tool = "process_refund", tripwires(max_refund = 5000))]
fn loose_refund(
    ctx: &SupportCtx,
    customer_id: &str,
    order_id: &str,
    amount: Money,
) -> Result<(), ToolError> {
    let _ = (customer_id, order_id, amount);
    Ok(())
}

#[test]
fn a_looser_attribute_limit_does_not_loosen_the_blueprint() {
    let c = ctx("C-1");
    let Err(ToolError::Denied(d)) = loose_refund(&c, "C-1", "A-1", usd("800")) else {
        panic!("expected a denial")
    };
    assert!(d.decision().has_reason("max_refund_exceeded"));
}

#[test]
fn a_foreign_customer_or_order_is_blocked() {
    let c = ctx("C-1");
    let out = block_on(process_refund(
        &c,
        &CustomerId("C-2".into()),
        &OrderId("A-1".into()),
        usd("5"),
    ));
    let Err(ToolError::Denied(d)) = out else {
        panic!("expected a denial")
    };
    assert!(d.decision().has_reason("cross_customer"));
    let out = block_on(process_refund(
        &c,
        &CustomerId("C-1".into()),
        &OrderId("B-1".into()),
        usd("5"),
    ));
    let Err(ToolError::Denied(d)) = out else {
        panic!("expected a denial")
    };
    assert!(d.decision().has_reason("cross_customer"));
}

// A derived struct parameter keeps nested isolation working.
#[derive(ToParam)]
struct Account {
    customer_id: CustomerId,
}

#[derive(ToParam)]
struct Filters {
    account: Account,
    #[to_param(rename = "state")]
    status: Option<String>,
}

#[guard]
fn lookup_orders(
    ctx: &SupportCtx,
    customer_id: &str,
    order_id: &str,
    filters: &Filters,
) -> Result<usize, ToolError> {
    let _ = (customer_id, order_id, filters.status.as_deref());
    Ok(3)
}

#[test]
fn a_nested_foreign_customer_in_a_derived_struct_blocks() {
    let c = ctx("C-1");
    let mine = Filters {
        account: Account {
            customer_id: CustomerId("C-1".into()),
        },
        status: None,
    };
    // `lookup_orders` is not in the agent's tool list: every call blocks with tool_not_allowed,
    // but the nested reference must be reported too.
    let theirs = Filters {
        account: Account {
            customer_id: CustomerId("C-2".into()),
        },
        status: Some("open".into()),
    };
    let Err(ToolError::Denied(d)) = lookup_orders(&c, "C-1", "A-1", &theirs) else {
        panic!()
    };
    assert!(
        d.decision().has_reason("cross_customer"),
        "{:?}",
        d.decision().reasons()
    );
    let Err(ToolError::Denied(d)) = lookup_orders(&c, "C-1", "A-1", &mine) else {
        panic!()
    };
    assert!(!d.decision().has_reason("cross_customer"));
}

// The tool entry is chosen by `tool = "..."`.
#[guard(tool = "lookup_order")]
fn find_order(
    ctx: &SupportCtx,
    customer_id: &str,
    order_id: &str,
) -> Result<&'static str, ToolError> {
    let _ = (customer_id, order_id);
    Ok("found")
}

#[test]
fn tool_name_override_and_skip() {
    let c = ctx("C-1");
    assert_eq!(find_order(&c, "C-1", "A-1").unwrap(), "found");
    assert!(find_order(&c, "C-1", "B-1").is_err());
    assert_eq!(track(&c, "1Z", &NotAParam).unwrap(), 1);
}

struct NotAParam;

#[guard(tool = "track_shipment", skip(extra))]
fn track(ctx: &SupportCtx, tracking: &str, extra: &NotAParam) -> Result<u8, ToolError> {
    let _ = (tracking, extra);
    Ok(1)
}

// Methods with the context from an expression, generics, impl Trait, a shadowed Result.
struct Desk {
    ctx: SupportCtx,
}

impl Desk {
    fn ctx(&self) -> &SupportCtx {
        &self.ctx
    }

    #[guard(ctx = self.ctx(), tool = "track_shipment")]
    fn track<T: ToParam + std::fmt::Display>(
        &self,
        tracking: T,
    ) -> Result<impl std::fmt::Display, ToolError> {
        Ok(format!("tracking {tracking}"))
    }

    #[guard(ctx = self.ctx(), tool = "lookup_order")]
    async fn lookup(&self, customer_id: String, order_id: String) -> Result<String, ToolError> {
        // A `use` inside the body that shadows `Result` does not break the expansion.
        #[allow(unused_imports)]
        use std::fmt::Result;
        Ok(format!("{customer_id}/{order_id}"))
    }
}

#[test]
fn methods_generics_impl_trait_and_shadowed_result() {
    let desk = Desk { ctx: ctx("C-1") };
    assert_eq!(desk.track("1Z999").unwrap().to_string(), "tracking 1Z999");
    assert_eq!(desk.track(42u32).unwrap().to_string(), "tracking 42");
    assert_eq!(
        block_on(desk.lookup("C-1".into(), "A-1".into())).unwrap(),
        "C-1/A-1"
    );
    assert!(block_on(desk.lookup("C-2".into(), "A-1".into())).is_err());
}

// Native async fn in traits.
trait Tools {
    async fn export(&self, ctx: &SupportCtx, customer_id: &str) -> Result<u8, ToolError>;
}

struct Impl;

impl Tools for Impl {
    #[guard(tool = "export_account_data")]
    async fn export(&self, ctx: &SupportCtx, customer_id: &str) -> Result<u8, ToolError> {
        let _ = customer_id;
        Ok(9)
    }
}

#[test]
fn async_fn_in_traits() {
    let c = ctx("C-1");
    assert_eq!(block_on(Impl.export(&c, "C-1")).unwrap(), 9, "FLAG runs");
    assert!(block_on(Impl.export(&c, "C-3")).is_err());
}

#[test]
fn an_async_handler_future_is_send_when_its_body_is() {
    fn assert_send<T: Send>(_: &T) {}
    let c = ctx("C-1");
    let ids = (CustomerId("C-1".into()), OrderId("A-1".into()));
    let fut = process_refund(&c, &ids.0, &ids.1, usd("1"));
    // SupportCtx is Sync, so the future holding `&SupportCtx` is Send.
    assert_send(&fut);
    assert!(block_on(fut).is_ok());
}

#[test]
fn a_wrong_blueprint_name_blocks() {
    #[guard(blueprint = "some-other-policy", tool = "track_shipment")]
    fn t(ctx: &SupportCtx) -> Result<(), ToolError> {
        Ok(())
    }
    let c = ctx("C-1");
    let Err(ToolError::Denied(d)) = t(&c) else {
        panic!()
    };
    assert!(d.decision().has_reason("blueprint_mismatch"));
}

#[test]
fn a_stricter_attribute_tier_adds_review() {
    #[guard(acl_tier = "ACL-4", tool = "process_refund")]
    fn strict(
        ctx: &SupportCtx,
        customer_id: &str,
        order_id: &str,
        amount: &str,
    ) -> Result<(), ToolError> {
        let _ = (customer_id, order_id, amount);
        Ok(())
    }
    let c = ctx("C-1");
    // ACL-4 reviews refunds: the call runs (FLAG) instead of plain OK.
    assert!(strict(&c, "C-1", "A-1", "10").is_ok());
    #[guard(acl_tier = "ACL-0", tool = "export_account_data")]
    fn lax(ctx: &SupportCtx, customer_id: &str) -> Result<(), ToolError> {
        let _ = customer_id;
        Ok(())
    }
    // A laxer tier than the blueprint's changes nothing.
    assert!(lax(&c, "C-1").is_ok());
}

#[test]
fn an_escalated_call_returns_its_ticket_and_the_approved_retry_runs_once() {
    let mut c = ctx("C-1");
    let ids = (CustomerId("C-1".into()), OrderId("A-1".into()));
    let before = ran();
    let Err(ToolError::Denied(d)) = block_on(process_refund(&c, &ids.0, &ids.1, usd("620"))) else {
        panic!("expected a hold")
    };
    assert_eq!(d.intervention(), Intervention::Escalate);
    let ticket = d
        .ticket()
        .expect("an escalation carries its ticket")
        .to_owned();
    let issued = c
        .guard
        .approve(&ticket, "reviewer", "receipt checked")
        .unwrap();
    c.approval = Some(issued.token().to_owned());
    let out = block_on(process_refund(&c, &ids.0, &ids.1, usd("620")));
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(ran(), before + 1);
    // The same token again: the body does not run a second time.
    assert!(block_on(process_refund(&c, &ids.0, &ids.1, usd("620"))).is_err());
    assert_eq!(ran(), before + 1);
}

#[guard(tool = "process_refund")]
fn flaky_refund(
    ctx: &SupportCtx,
    customer_id: &str,
    order_id: &str,
    amount: Money,
    fail: bool,
) -> Result<(), ToolError> {
    let _ = (customer_id, order_id, amount);
    mark();
    if fail {
        Err(ToolError::Failed("payment provider down"))
    } else {
        Ok(())
    }
}

#[test]
fn a_failing_body_releases_its_reservation_and_a_successful_one_commits() {
    let c = ctx("C-1");
    // The default daily limit is 750: a failed 450 must not count, a successful one must.
    assert!(matches!(
        flaky_refund(&c, "C-1", "A-1", usd("450"), true),
        Err(ToolError::Failed(_))
    ));
    assert!(
        flaky_refund(&c, "C-1", "A-1", usd("450"), false).is_ok(),
        "the failed 450 was released"
    );
    let Err(ToolError::Denied(d)) = flaky_refund(&c, "C-1", "A-1", usd("450"), false) else {
        panic!("expected a denial")
    };
    assert!(
        d.decision().has_reason("daily_limit_exceeded"),
        "the successful 450 was committed: {:?}",
        d.decision().reasons()
    );
}
