//! One table row per rule of the stateless pre-execution check, on the embedded default
//! blueprint (ACL-2, USD, max_refund 750, approval_above 500, max_discount 20%, nudge 0.8).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use guard_core::{
    Blueprint, Guard, Intervention as I, MemoryOwnership, Mode, Ownership, OwnershipError, Session,
    ToolCall,
};
use serde_json::{json, Value as Json};

const AGENT: &str = "support-bot-prod";
const ME: &str = "C-1001";

fn owners() -> MemoryOwnership {
    let mut o = MemoryOwnership::new();
    o.insert("order", "A-1", ME);
    o.insert("order", "A-2", ME);
    o.insert("order", "B-9", "C-2002");
    o
}

fn guard() -> Guard {
    Guard::builder().ownership(owners()).build().unwrap()
}

fn me() -> Session {
    Session::authenticated(ME, "s-1").identifier("ada@example.com")
}

struct Case {
    name: &'static str,
    session: Session,
    agent: &'static str,
    tool: &'static str,
    params: Json,
    expect: I,
    /// Every code that must be among the reasons.
    codes: &'static [&'static str],
}

fn case(
    name: &'static str,
    tool: &'static str,
    params: Json,
    expect: I,
    codes: &'static [&'static str],
) -> Case {
    Case {
        name,
        session: me(),
        agent: AGENT,
        tool,
        params,
        expect,
        codes,
    }
}

fn cases() -> Vec<Case> {
    vec![
        // Agent and tool policy.
        case(
            "plain lookup",
            "lookup_order",
            json!({"customer_id": ME, "order_id": "A-1"}),
            I::Ok,
            &[],
        ),
        case(
            "undeclared read tool",
            "track_shipment",
            json!({"tracking": "1Z999"}),
            I::Ok,
            &[],
        ),
        Case {
            agent: "rogue-bot",
            ..case(
                "unknown agent",
                "lookup_order",
                json!({"customer_id": ME, "order_id": "A-1"}),
                I::Block,
                &["unknown_agent"],
            )
        },
        case(
            "tool not in the agent's list",
            "delete_account",
            json!({"customer_id": ME}),
            I::Block,
            &["tool_not_allowed"],
        ),
        // Isolation: the declared customer parameter.
        case(
            "another customer's id",
            "lookup_order",
            json!({"customer_id": "C-2002", "order_id": "A-1"}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "id differing by case",
            "lookup_order",
            json!({"customer_id": "c-1001", "order_id": "A-1"}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "id with trailing space",
            "lookup_order",
            json!({"customer_id": "C-1001 ", "order_id": "A-1"}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "id with leading space",
            "lookup_order",
            json!({"customer_id": " C-1001", "order_id": "A-1"}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "empty id",
            "lookup_order",
            json!({"customer_id": "", "order_id": "A-1"}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "missing customer param",
            "lookup_order",
            json!({"order_id": "A-1"}),
            I::Block,
            &["missing_param"],
        ),
        case(
            "null customer param",
            "lookup_order",
            json!({"customer_id": null, "order_id": "A-1"}),
            I::Block,
            &["malformed_param"],
        ),
        case(
            "boolean customer param",
            "lookup_order",
            json!({"customer_id": true, "order_id": "A-1"}),
            I::Block,
            &["malformed_param"],
        ),
        // Isolation: nested and undeclared references.
        case(
            "nested foreign customer",
            "lookup_order",
            json!({"customer_id": ME, "order_id": "A-1", "filters": {"account": {"customer_id": "C-2"}}}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "nested own customer",
            "lookup_order",
            json!({"customer_id": ME, "order_id": "A-1", "filters": {"account": {"customer_id": ME}}}),
            I::Ok,
            &[],
        ),
        case(
            "array with one foreign id",
            "track_shipment",
            json!({"customer_ids": [ME, ME, "C-3"]}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "array of objects, one foreign",
            "track_shipment",
            json!({"items": [{"userId": ME}, {"userId": "C-4"}]}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "camelCase account id",
            "track_shipment",
            json!({"accountId": "C-5"}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "numeric foreign id",
            "track_shipment",
            json!({"user_id": 2002}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "another customer's email",
            "track_shipment",
            json!({"notify": "eve@evil.com"}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "email inside free text",
            "track_shipment",
            json!({"note": "please also send it to admin@company.com thanks"}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "own verified email",
            "track_shipment",
            json!({"notify": "ada@example.com"}),
            I::Ok,
            &[],
        ),
        case(
            "own email in different case",
            "track_shipment",
            json!({"notify": "Ada@example.com"}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "free param holds a new email",
            "update_email",
            json!({"customer_id": ME, "new_email": "ada.new@example.org"}),
            I::Flag,
            &["review_required"],
        ),
        case(
            "foreign email outside free params",
            "update_email",
            json!({"customer_id": ME, "new_email": "x@y.org", "cc": "eve@evil.com"}),
            I::Block,
            &["cross_customer"],
        ),
        Case {
            session: Session::guest("g-1"),
            ..case(
                "guest naming a customer",
                "lookup_order",
                json!({"customer_id": ME, "order_id": "A-1"}),
                I::Block,
                &["guest_session"],
            )
        },
        Case {
            session: Session::guest("g-1"),
            ..case(
                "guest on a tool with a customer param",
                "export_account_data",
                json!({}),
                I::Block,
                &["guest_session"],
            )
        },
        Case {
            session: Session::guest("g-1"),
            ..case(
                "guest on an anonymous tool",
                "track_shipment",
                json!({"tracking": "1Z"}),
                I::Ok,
                &[],
            )
        },
        Case {
            session: Session::guest("g-1"),
            ..case(
                "guest sneaking a nested id",
                "track_shipment",
                json!({"q": {"customer": "C-1001"}}),
                I::Block,
                &["guest_session"],
            )
        },
        // Ownership.
        case(
            "own order",
            "lookup_order",
            json!({"customer_id": ME, "order_id": "A-2"}),
            I::Ok,
            &[],
        ),
        case(
            "another customer's order by id alone",
            "lookup_order",
            json!({"customer_id": ME, "order_id": "B-9"}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "order with no known owner",
            "lookup_order",
            json!({"customer_id": ME, "order_id": "Z-404"}),
            I::Block,
            &["unknown_owner"],
        ),
        case(
            "list of orders, one foreign",
            "lookup_order",
            json!({"customer_id": ME, "order_id": ["A-1", "B-9"]}),
            I::Block,
            &["cross_customer"],
        ),
        case(
            "order id as an object",
            "lookup_order",
            json!({"customer_id": ME, "order_id": {"id": "A-1"}}),
            I::Block,
            &["malformed_param"],
        ),
        case(
            "missing order id",
            "process_refund",
            json!({"customer_id": ME, "amount": 10}),
            I::Block,
            &["missing_param"],
        ),
        // Refund amounts.
        case(
            "small refund",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": 25}),
            I::Ok,
            &[],
        ),
        case(
            "refund as string with cents",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": "19.99"}),
            I::Ok,
            &[],
        ),
        case(
            "refund at the approval threshold",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": "500.00"}),
            I::Ok,
            &[],
        ),
        case(
            "refund above approval threshold",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": "500.01"}),
            I::Escalate,
            &["approval_required"],
        ),
        case(
            "refund near the max",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": 700}),
            I::Escalate,
            &["approval_required", "near_max_refund"],
        ),
        case(
            "refund at the max",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": 750}),
            I::Escalate,
            &["approval_required"],
        ),
        case(
            "refund above the max",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": 750.01}),
            I::Block,
            &["max_refund_exceeded", "approval_required"],
        ),
        case(
            "refund with too many decimals",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": "10.001"}),
            I::Block,
            &["malformed_param"],
        ),
        case(
            "negative refund",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": -5}),
            I::Block,
            &["malformed_param"],
        ),
        case(
            "zero refund",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": 0}),
            I::Block,
            &["malformed_param"],
        ),
        case(
            "overflowing refund",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": "99999999999999999999999"}),
            I::Block,
            &["malformed_param"],
        ),
        case(
            "exponent refund",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": "1e3"}),
            I::Block,
            &["malformed_param"],
        ),
        case(
            "missing amount",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1"}),
            I::Block,
            &["missing_param"],
        ),
        case(
            "amount as a list",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": [5]}),
            I::Block,
            &["malformed_param"],
        ),
        case(
            "refund in another currency",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": 25, "currency": "EUR"}),
            I::Block,
            &["currency_mismatch"],
        ),
        case(
            "refund object in another currency",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": {"value": "25.00", "currency": "GBP"}}),
            I::Block,
            &["currency_mismatch"],
        ),
        case(
            "refund object in the right currency",
            "process_refund",
            json!({"customer_id": ME, "order_id": "A-1", "amount": {"value": "25.00", "currency": "USD"}}),
            I::Ok,
            &[],
        ),
        case(
            "foreign refund above the max keeps every reason",
            "process_refund",
            json!({"customer_id": "C-2", "order_id": "B-9", "amount": 900}),
            I::Block,
            &["cross_customer", "max_refund_exceeded", "approval_required"],
        ),
        // Discounts.
        case(
            "small discount",
            "apply_discount",
            json!({"customer_id": ME, "percent": 10}),
            I::Ok,
            &[],
        ),
        case(
            "discount near the max",
            "apply_discount",
            json!({"customer_id": ME, "percent": 18}),
            I::Nudge,
            &["near_max_discount"],
        ),
        case(
            "discount at exactly the nudge line",
            "apply_discount",
            json!({"customer_id": ME, "percent": 16}),
            I::Ok,
            &[],
        ),
        case(
            "discount at the max",
            "apply_discount",
            json!({"customer_id": ME, "percent": "20"}),
            I::Nudge,
            &["near_max_discount"],
        ),
        case(
            "discount above the max",
            "apply_discount",
            json!({"customer_id": ME, "percent": 20.5}),
            I::Block,
            &["max_discount_exceeded"],
        ),
        case(
            "discount with a percent sign",
            "apply_discount",
            json!({"customer_id": ME, "percent": "25%"}),
            I::Block,
            &["max_discount_exceeded"],
        ),
        case(
            "discount as text",
            "apply_discount",
            json!({"customer_id": ME, "percent": "lots"}),
            I::Block,
            &["malformed_param"],
        ),
        // Review.
        case(
            "data export flags",
            "export_account_data",
            json!({"customer_id": ME}),
            I::Flag,
            &["review_required"],
        ),
        case(
            "address change flags",
            "update_address",
            json!({"customer_id": ME, "address": {"street": "1 Main St"}}),
            I::Flag,
            &["review_required"],
        ),
        // Shape of the parameters.
        case(
            "parameters not an object",
            "track_shipment",
            json!(["x"]),
            I::Block,
            &["malformed_param"],
        ),
    ]
}

#[test]
fn rule_table() {
    let mut failures = Vec::new();
    for c in cases() {
        // A fresh guard per row: history (trust, totals) from earlier rows must not decide.
        let guard = guard();
        let call = ToolCall::new(c.agent, c.tool, c.session.clone()).with_params(c.params.clone());
        let d = guard.pre_execution_check(&call);
        let codes: Vec<&str> = d.reasons().iter().map(|r| r.code()).collect();
        if d.intervention() != c.expect || !c.codes.iter().all(|code| codes.contains(code)) {
            failures.push(format!(
                "{}: got {:?} {:?}, want {:?} with {:?}",
                c.name,
                d.intervention(),
                codes,
                c.expect,
                c.codes
            ));
        }
        if c.codes.is_empty() && c.expect == I::Ok {
            assert!(d.reasons().is_empty(), "{}: {codes:?}", c.name);
        }
        assert_eq!(d.allowed(), c.expect <= I::Flag, "{}", c.name);
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn strictest_wins_and_the_deciding_reason_comes_first() {
    let d = guard().pre_execution_check(
        &ToolCall::new(AGENT, "process_refund", me())
            .with_params(json!({"customer_id": ME, "order_id": "A-1", "amount": 700})),
    );
    assert_eq!(d.intervention(), I::Escalate);
    assert_eq!(d.reasons()[0].code(), "approval_required");
    assert!(d
        .reasons()
        .windows(2)
        .all(|w| w[0].intervention() >= w[1].intervention()));
}

#[test]
fn customer_messages_never_reveal_limits() {
    for c in cases() {
        let guard = guard();
        let call = ToolCall::new(c.agent, c.tool, c.session.clone()).with_params(c.params.clone());
        let d = guard.pre_execution_check(&call);
        for r in d.reasons() {
            let m = r.customer_message();
            assert!(!m.chars().any(|ch| ch.is_ascii_digit()), "{}: {m}", c.name);
            for word in [
                "limit",
                "750",
                "500",
                "threshold",
                "%",
                "total",
                "trust",
                "detector",
            ] {
                assert!(
                    !m.to_lowercase().contains(word),
                    "{}: {m:?} mentions {word}",
                    c.name
                );
            }
        }
        if !d.allowed() {
            assert!(d.customer_message().is_some(), "{}", c.name);
        }
    }
}

#[test]
fn operator_messages_cite_the_limit() {
    let d = guard().pre_execution_check(
        &ToolCall::new(AGENT, "process_refund", me())
            .with_params(json!({"customer_id": ME, "order_id": "A-1", "amount": 900})),
    );
    let r = d
        .reasons()
        .iter()
        .find(|r| r.code() == "max_refund_exceeded")
        .unwrap();
    assert!(
        r.message().contains("750.00 USD") && r.message().contains("900.00 USD"),
        "{}",
        r.message()
    );
}

#[test]
fn shadow_mode_records_the_same_decision_and_lets_it_through() {
    let yaml = guard_core::DEFAULT_BLUEPRINT_YAML.replace("mode: enforce", "mode: shadow");
    let bp = Blueprint::from_yaml_str(&yaml, "shadow.yaml").unwrap();
    assert_eq!(bp.mode(), Mode::Shadow);
    for c in cases() {
        // Fresh guards per row: in shadow mode allowed calls really run and count, so shared
        // histories would diverge from enforce mode's by design.
        let shadow = Guard::builder()
            .blueprint(bp.clone())
            .ownership(owners())
            .build()
            .unwrap();
        let enforce = guard();
        let call = ToolCall::new(c.agent, c.tool, c.session.clone()).with_params(c.params.clone());
        let (s, e) = (
            shadow.pre_execution_check(&call),
            enforce.pre_execution_check(&call),
        );
        assert_eq!(s.intervention(), e.intervention(), "{}", c.name);
        assert_eq!(s.reasons(), e.reasons(), "{}", c.name);
        assert!(s.allowed(), "{}", c.name);
        assert_eq!(s.would_block(), e.intervention() == I::Block, "{}", c.name);
        assert_eq!(
            s.would_escalate(),
            e.intervention() == I::Escalate,
            "{}",
            c.name
        );
        assert_eq!(s.customer_message(), None);
    }
}

struct Down;
impl Ownership for Down {
    fn owner_of(&self, _: &str, _: &str) -> Result<Option<String>, OwnershipError> {
        Err(OwnershipError("connection refused".into()))
    }
}

#[test]
fn an_unreachable_owner_lookup_blocks() {
    let g = Guard::builder().ownership(Down).build().unwrap();
    let d = g.pre_execution_check(
        &ToolCall::new(AGENT, "lookup_order", me())
            .with_params(json!({"customer_id": ME, "order_id": "A-1"})),
    );
    assert_eq!(d.intervention(), I::Block);
    assert!(d.has_reason("ownership_unavailable"));
    // And with no resolver configured at all.
    let g = Guard::builder().build().unwrap();
    let d = g.pre_execution_check(
        &ToolCall::new(AGENT, "lookup_order", me())
            .with_params(json!({"customer_id": ME, "order_id": "A-1"})),
    );
    assert!(d.has_reason("ownership_unavailable"));
}

#[test]
fn absurdly_deep_parameters_block_without_overflowing_the_stack() {
    let mut v = json!("C-1001");
    for _ in 0..300 {
        v = json!({"x": v});
    }
    let params = json!({"filters": v});
    let d = guard()
        .pre_execution_check(&ToolCall::new(AGENT, "track_shipment", me()).with_params(params));
    assert_eq!(d.intervention(), I::Block);
    assert!(d.has_reason("malformed_param"));
}
