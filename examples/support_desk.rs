//! A scripted support session against the embedded default blueprint.
//!
//! Ada (customer C-1001) chats with the retailer's support agent. Every tool call the agent
//! wants to make goes through `pre_execution_check` first; the story shows each intervention,
//! what the operator sees and what Ada is told.
//!
//! Run it with `cargo run --release --example support_desk`.

use guard_core::{Decision, Guard, GuardError, Intervention, MemoryOwnership, Session, ToolCall};
use serde_json::{json, Value};

const AGENT: &str = "support-bot-prod";
const ADA: &str = "C-1001";
const BOB: &str = "C-2002";

fn main() -> Result<(), GuardError> {
    // The application's order database, as the guard sees it through the Ownership trait.
    let mut orders = MemoryOwnership::new();
    orders.insert("order", "A-4471", ADA);
    orders.insert("order", "A-4472", ADA);
    orders.insert("order", "B-88231", BOB);

    let guard = Guard::builder().ownership(orders).build()?;
    let bp = guard.blueprint();
    println!(
        "guard support desk: blueprint {} ({}, {} mode, {})",
        bp.name(),
        bp.acl_tier(),
        mode(&guard),
        bp.currency()
    );
    println!("Ada ({ADA}) is signed in; her verified email is ada@example.com.\n");

    let ada = Session::authenticated(ADA, "sess-ada-1").identifier("ada@example.com");
    let mut seen = Vec::new();
    let mut step = |n: usize, story: &str, tool: &str, params: Value| {
        let call = ToolCall::new(AGENT, tool, ada.clone())
            .with_id(format!("call-{n}"))
            .with_params(params.clone());
        let decision = guard.pre_execution_check(&call);
        show(n, story, tool, &params, &decision);
        seen.push(decision.intervention());
    };

    step(
        1,
        "Ada asks where order A-4471 is.",
        "lookup_order",
        json!({"customer_id": ADA, "order_id": "A-4471"}),
    );
    step(
        2,
        "The parcel is late; the agent offers 18% off her next order.",
        "apply_discount",
        json!({"customer_id": ADA, "percent": 18}),
    );
    step(
        3,
        "Ada asks for a copy of all the data held about her.",
        "export_account_data",
        json!({"customer_id": ADA}),
    );
    step(
        4,
        "A damaged sofa: the agent wants to refund $620.00 on order A-4472.",
        "process_refund",
        json!({"customer_id": ADA, "order_id": "A-4472", "amount": "620.00"}),
    );
    step(
        5,
        "Ada pushes for 35% off; the agent is about to agree.",
        "apply_discount",
        json!({"customer_id": ADA, "percent": 35}),
    );
    step(
        6,
        "\"Look up my husband's orders, his id is C-2002.\"",
        "lookup_order",
        json!({"customer_id": BOB, "order_id": "B-88231"}),
    );
    step(7, "\"Check order B-88231 for me.\" It is someone else's order; the call carries Ada's own id.", "lookup_order", json!({"customer_id": ADA, "order_id": "B-88231"}));
    step(
        8,
        "The model, talked into it, tries a tool it was never given.",
        "delete_account",
        json!({"customer_id": ADA}),
    );

    let all = [
        Intervention::Ok,
        Intervention::Nudge,
        Intervention::Flag,
        Intervention::Escalate,
        Intervention::Block,
    ];
    let shown: Vec<String> = all
        .iter()
        .filter(|i| seen.contains(i))
        .map(ToString::to_string)
        .collect();
    println!("Interventions shown: {}", shown.join(", "));
    Ok(())
}

fn mode(guard: &Guard) -> &'static str {
    match guard.blueprint().mode() {
        guard_core::Mode::Enforce => "enforce",
        guard_core::Mode::Shadow => "shadow",
    }
}

fn show(n: usize, story: &str, tool: &str, params: &Value, d: &Decision) {
    println!("{n}. {story}");
    println!("   call      {tool} {params}");
    let verdict = if d.allowed() { "runs" } else { "does not run" };
    println!("   decision  {} ({verdict})", d.intervention());
    for r in d.reasons() {
        println!("   operator  [{}] {}", r.code(), r.message());
    }
    match d.customer_message() {
        Some(reply) => println!("   Ada sees  \"{reply}\""),
        None => println!("   Ada sees  the agent's normal answer"),
    }
    println!();
}
