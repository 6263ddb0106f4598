//! Property: any parameter tree that holds a customer id other than the session's under a
//! customer-id-like key, at any depth or array position, BLOCKs with `cross_customer`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use guard_core::{Guard, Intervention, Session, ToolCall, Value};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

const ME: &str = "C-1001";

/// Keys that do not name a customer (and hold no email).
fn neutral_key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "items",
        "filters",
        "q",
        "meta",
        "order_ref",
        "notes",
        "x",
        "tracking",
        "page",
    ])
    .prop_map(String::from)
}

fn customer_key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "customer_id",
        "customerId",
        "CustomerID",
        "account_id",
        "accountId",
        "user_id",
        "userId",
        "client_id",
        "customer",
        "account",
        "uid",
        "member_no",
        "owner_id",
        "customer-number",
        "users",
    ])
    .prop_map(String::from)
}

/// A foreign id: anything but exactly the session's customer, near-misses included.
fn foreign_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("c-1001".to_string()),
        Just("C-1001 ".to_string()),
        Just(" C-1001".to_string()),
        Just("C-10011".to_string()),
        Just("C\u{2010}1001".to_string()),
        "[A-Z]-[0-9]{1,6}",
        "[a-z0-9]{1,12}",
    ]
    .prop_filter("must differ", |s| s != ME)
}

/// Benign filler: scalars and nested structures with neutral keys and own ids.
fn filler() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z ]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((neutral_key(), inner), 0..4).prop_map(Value::Object),
        ]
    })
}

/// Where to bury the foreign reference: a path of object keys and array positions.
#[derive(Debug, Clone)]
enum Step {
    Key(String, Vec<(String, Value)>),
    Index(usize, Vec<Value>),
}

fn path() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        (
            neutral_key(),
            prop::collection::vec((neutral_key(), filler()), 0..3)
        )
            .prop_map(|(k, s)| Step::Key(k, s)),
        (0usize..4, prop::collection::vec(filler(), 0..4)).prop_map(|(i, s)| Step::Index(i, s)),
    ];
    prop::collection::vec(step, 0..6)
}

fn bury(path: &[Step], reference: Value) -> Value {
    path.iter().rev().fold(reference, |inner, step| match step {
        Step::Key(k, siblings) => {
            let mut entries: Vec<(String, Value)> =
                siblings.iter().filter(|(sk, _)| sk != k).cloned().collect();
            entries.push((k.clone(), inner));
            Value::Object(entries)
        }
        Step::Index(i, siblings) => {
            let mut items = siblings.clone();
            let at = (*i).min(items.len());
            items.insert(at, inner);
            Value::Array(items)
        }
    })
}

proptest! {
    #![proptest_config(Config {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/isolation_props.txt"))),
        ..Config::default()
    })]

    #[test]
    fn a_buried_foreign_customer_id_always_blocks(
        key in customer_key(),
        id in foreign_id(),
        as_array in any::<bool>(),
        pos in 0usize..3,
        path in path(),
    ) {
        let guard = Guard::builder().build().unwrap();
        let reference = if as_array {
            let mut ids: Vec<Value> = vec![Value::from(ME); 2];
            ids.insert(pos.min(2), Value::from(id.clone()));
            Value::Array(ids)
        } else {
            Value::from(id.clone())
        };
        let inner = Value::object().with(&key, reference);
        let params = Value::object().with("tracking", "1Z").with("payload", bury(&path, inner));
        let call = ToolCall::new("support-bot-prod", "track_shipment", Session::authenticated(ME, "s")).with_params(params);
        let d = guard.pre_execution_check(&call);
        prop_assert_eq!(d.intervention(), Intervention::Block);
        prop_assert!(d.has_reason("cross_customer"), "{:?}", d.reasons());
    }

    #[test]
    fn the_same_tree_with_the_own_id_does_not_block(key in customer_key(), path in path()) {
        let guard = Guard::builder().build().unwrap();
        let inner = Value::object().with(&key, ME);
        let params = Value::object().with("payload", bury(&path, inner));
        let call = ToolCall::new("support-bot-prod", "track_shipment", Session::authenticated(ME, "s")).with_params(params);
        let d = guard.pre_execution_check(&call);
        prop_assert!(!d.has_reason("cross_customer"), "{:?}", d.reasons());
    }
}
