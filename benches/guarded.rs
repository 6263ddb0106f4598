//! A `#[guard]`ed handler against the same check called by hand. The by-hand version does what
//! a user would: build the call from the arguments, then check it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, Criterion};
use guard_benches::Latency;
use guard_core::{
    guard, Denial, Guard, GuardContext, MemoryOwnership, Money, Session, ToParam, ToolCall, Value,
};

struct Ctx {
    guard: Guard,
    session: Session,
}

impl GuardContext for Ctx {
    fn guard(&self) -> &Guard {
        &self.guard
    }
    fn session(&self) -> &Session {
        &self.session
    }
    fn agent_id(&self) -> &str {
        "support-bot-prod"
    }
}

#[guard(tool = "process_refund")]
fn refund_guarded(
    ctx: &Ctx,
    customer_id: &str,
    order_id: &str,
    amount: Money,
) -> Result<i64, Denial> {
    let _ = (customer_id, order_id);
    Ok(std::hint::black_box(amount.minor_units()))
}

fn refund_by_hand(
    ctx: &Ctx,
    customer_id: &str,
    order_id: &str,
    amount: Money,
) -> Result<i64, Denial> {
    let params = Value::object()
        .with("customer_id", customer_id)
        .with("order_id", order_id)
        .with("amount", amount.to_param());
    let call = ToolCall::new(ctx.agent_id(), "process_refund", ctx.session().clone())
        .with_id(format!("refund-{}", amount.minor_units()))
        .with_params(params);
    let decision = ctx.guard().pre_execution_check(&call);
    assert!(decision.allowed());
    Ok(std::hint::black_box(amount.minor_units()))
}

fn setup() -> (Ctx, Money) {
    let mut owners = MemoryOwnership::new();
    owners.insert("order", "A-1", "C-1");
    let guard = Guard::builder().ownership(owners).build().unwrap();
    let usd = guard_core::Currency::from_code("USD").unwrap();
    (
        Ctx {
            guard,
            session: Session::authenticated("C-1", "s-1"),
        },
        Money::parse("49.99", usd).unwrap(),
    )
}

fn bench(c: &mut Criterion) {
    let (ctx, amount) = setup();
    let mut g = c.benchmark_group("refund");
    g.bench_function("guarded handler", |b| {
        b.iter(|| refund_guarded(&ctx, "C-1", "A-1", amount).unwrap())
    });
    g.bench_function("check by hand", |b| {
        b.iter(|| refund_by_hand(&ctx, "C-1", "A-1", amount).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    let (ctx, amount) = setup();
    println!(
        "\nlatency histogram ({} cores):",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let guarded = Latency::measure(200_000, || {
        refund_guarded(&ctx, "C-1", "A-1", amount).unwrap()
    });
    let by_hand = Latency::measure(200_000, || {
        refund_by_hand(&ctx, "C-1", "A-1", amount).unwrap()
    });
    println!("{}", guarded.line("guarded handler"));
    println!("{}", by_hand.line("check by hand"));
    #[allow(clippy::cast_precision_loss)]
    let overhead =
        (guarded.percentile(50.0) as f64 / by_hand.percentile(50.0).max(1) as f64 - 1.0) * 100.0;
    println!("median overhead of the attribute: {overhead:+.1}%");
}
