//! Blueprint loading: each malformed file gives the expected error kind and line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use guard_core::{Blueprint, BlueprintErrorKind as K, Mode, ToolKind};

const BASE: &str = "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\n";

fn load(yaml: &str) -> Result<Blueprint, guard_core::BlueprintError> {
    Blueprint::from_yaml_str(yaml, "test.yaml")
}

/// (name, yaml, kind, line)
const BAD: &[(&str, &str, K, usize)] = &[
    ("unknown top-level key", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\nmax_refnud: 5\n", K::UnknownKey, 4),
    ("unknown tripwire key (typo)", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  max_refnud: 750\n", K::UnknownKey, 5),
    ("unknown tool key", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntools:\n  r: { kind: refund, amount_prm: x }\n", K::UnknownKey, 5),
    ("wrong type: list for a number", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  refund_frequency_threshold: [3]\n", K::WrongType, 5),
    ("wrong type: string for a count", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  refund_frequency_threshold: three\n", K::WrongType, 5),
    ("wrong type: mapping for money", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  max_refund: { a: 1 }\n", K::WrongType, 5),
    ("duplicate top-level key", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\nmode: enforce\nmode: shadow\n", K::DuplicateKey, 5),
    ("duplicate tripwire key", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  max_refund: 750\n  max_refund: 9000\n", K::DuplicateKey, 6),
    ("duplicate tool name", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntools:\n  a: {}\n  a: { kind: refund }\n", K::DuplicateKey, 6),
    ("money with too many places", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  max_refund: \"500.001\"\n", K::Money, 5),
    ("unquoted money with too many places", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  max_refund: 500.001\n", K::Money, 5),
    ("money in yen with decimals", "blueprint: t\nacl_tier: ACL-2\ncurrency: JPY\ntripwires:\n  max_refund: 500.5\n", K::Money, 5),
    ("negative money", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  max_refund: -5\n", K::Money, 5),
    ("exponent money", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  max_refund: 1e3\n", K::Money, 5),
    ("overflowing money", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  max_refund: 99999999999999999999\n", K::Money, 5),
    ("unknown tier", "blueprint: t\nacl_tier: ACL-9\ncurrency: USD\n", K::Tier, 2),
    ("lower-case tier", "blueprint: t\nacl_tier: acl-2\ncurrency: USD\n", K::Tier, 2),
    ("unknown currency", "blueprint: t\nacl_tier: ACL-2\ncurrency: DOLLARS\n", K::Currency, 3),
    ("bad duration", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntrust:\n  half_life: 7 days\n", K::Duration, 5),
    ("zero duration", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  takeover_window: 0h\n", K::Duration, 5),
    ("ratio above one", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  nudge_ratio: 1.5\n", K::InvalidValue, 5),
    ("unknown mode", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\nmode: enforcing\n", K::InvalidValue, 4),
    ("unknown tool kind", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntools:\n  x: { kind: payout }\n", K::InvalidValue, 5),
    ("percentage above 100", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  max_discount_percent: 150\n", K::InvalidValue, 5),
    ("zero frequency", "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  refund_frequency_threshold: 0\n", K::InvalidValue, 5),
    ("syntax error", "blueprint: t\nacl_tier: [ACL-2\ncurrency: USD\n", K::Syntax, 3),
    ("tab indentation", "blueprint: t\ntripwires:\n\tmax_refund: 5\n", K::Syntax, 3),
];

#[test]
fn malformed_blueprints_name_kind_and_line() {
    for (name, yaml, kind, line) in BAD {
        let err = load(yaml).expect_err(name);
        assert_eq!(err.kind(), *kind, "{name}: {err}");
        assert_eq!(err.line(), Some(*line), "{name}: {err}");
        assert!(err.column().is_some(), "{name}: {err}");
        assert_eq!(err.file(), "test.yaml", "{name}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("test.yaml:{line}:")),
            "{name}: {shown}"
        );
    }
}

/// Errors that only show once the file is whole: no line, but a key path.
#[test]
fn whole_file_errors() {
    let cases: &[(&str, &str, K, &str)] = &[
        (
            "missing name",
            "acl_tier: ACL-2\ncurrency: USD\n",
            K::MissingKey,
            "blueprint",
        ),
        (
            "missing tier",
            "blueprint: t\ncurrency: USD\n",
            K::MissingKey,
            "acl_tier",
        ),
        (
            "missing currency",
            "blueprint: t\nacl_tier: ACL-2\n",
            K::MissingKey,
            "currency",
        ),
        ("empty file", "", K::MissingKey, "blueprint"),
        (
            "block above escalate",
            &format!("{BASE}trust:\n  escalate_below: 0.3\n  block_below: 0.5\n"),
            K::Inconsistent,
            "block_below",
        ),
        (
            "flag above block",
            &format!("{BASE}scanner:\n  block_threshold: 0.3\n  flag_threshold: 0.5\n"),
            K::Inconsistent,
            "flag_threshold",
        ),
        (
            "amount on a read tool",
            &format!("{BASE}tools:\n  x: {{ amount_param: a }}\n"),
            K::Inconsistent,
            "amount_param",
        ),
        (
            "free and checked",
            &format!("{BASE}tools:\n  x: {{ customer_param: c, free_params: [c] }}\n"),
            K::Inconsistent,
            "free_params",
        ),
        (
            "unknown kind in frequency",
            &format!("{BASE}tripwires:\n  frequency: {{ payout: 2 }}\n"),
            K::InvalidValue,
            "payout",
        ),
        (
            "refund in frequency",
            &format!("{BASE}tripwires:\n  frequency: {{ refund: 2 }}\n"),
            K::Inconsistent,
            "refund_frequency_threshold",
        ),
        (
            "bad store url",
            &format!("{BASE}store:\n  url: postgres://x\n"),
            K::InvalidValue,
            "store.url",
        ),
    ];
    for (name, yaml, kind, mentions) in cases {
        let err = load(yaml).expect_err(name);
        assert_eq!(err.kind(), *kind, "{name}: {err}");
        assert!(err.message().contains(mentions), "{name}: {err}");
    }
}

#[test]
fn money_forms_are_equal() {
    for form in ["500", "\"500\"", "\"500.00\"", "500.00", "'500.0'"] {
        let bp = load(&format!("{BASE}tripwires:\n  max_refund: {form}\n")).unwrap();
        assert_eq!(bp.tripwires().max_refund().minor_units(), 50_000, "{form}");
    }
}

#[test]
fn omitted_values_take_the_tier_defaults_and_tiers_differ() {
    let t0 = load("blueprint: t\nacl_tier: ACL-0\ncurrency: USD\n").unwrap();
    let t2 = load(BASE).unwrap();
    let t5 = load("blueprint: t\nacl_tier: ACL-5\ncurrency: USD\n").unwrap();
    assert_eq!(t2.tripwires().max_refund().minor_units(), 75_000);
    assert!(t0.tripwires().max_refund().minor_units() > t2.tripwires().max_refund().minor_units());
    assert!(t5.tripwires().max_refund().minor_units() < t2.tripwires().max_refund().minor_units());
    assert!(t5.trust().escalate_below() > t2.trust().escalate_below());
    assert_eq!(t2.mode(), Mode::Enforce);
    // Review flags depend on the tier: a refund tool is reviewed only at the strict tiers.
    let with_tool = |tier: &str| {
        load(&format!("blueprint: t\nacl_tier: {tier}\ncurrency: USD\ntools:\n  r: {{ kind: refund }}\n  e: {{ kind: data_export }}\n")).unwrap()
    };
    assert!(!with_tool("ACL-0").tool("e").review());
    assert!(with_tool("ACL-2").tool("e").review());
    assert!(!with_tool("ACL-2").tool("r").review());
    assert!(with_tool("ACL-4").tool("r").review());
    // A refund tool gets the tier's approval threshold and the default amount parameter.
    let r = with_tool("ACL-2");
    assert_eq!(r.tool("r").approval_above().unwrap().minor_units(), 50_000);
    assert_eq!(r.tool("r").amount_param(), Some("amount"));
    assert_eq!(r.tool("r").kind(), ToolKind::Refund);
}

#[test]
fn the_embedded_default_is_the_design_example() {
    let bp = Blueprint::embedded_default().unwrap();
    assert_eq!(bp.name(), "customer-service-v1");
    assert_eq!(bp.acl_tier().to_string(), "ACL-2");
    let refund = bp.tool("process_refund");
    assert_eq!(refund.kind(), ToolKind::Refund);
    assert_eq!(refund.customer_param(), Some("customer_id"));
    assert_eq!(
        refund.owned_params(),
        &[("order_id".to_string(), "order".to_string())]
    );
    assert!(bp.tool("update_email").free_params().contains("new_email"));
    assert!(bp
        .agent_tools("support-bot-prod")
        .unwrap()
        .contains("escalate_to_human"));
    assert_eq!(
        bp.tripwires().weekly_user_refund_limit().minor_units(),
        150_000
    );
    assert_eq!(bp.tripwires().refund_frequency_threshold().get(), 3);
    assert_eq!(bp.tripwires().nudge_ratio().basis_points(), 8000);
    assert_eq!(bp.scanner().max_message_bytes(), 262_144);
    assert_eq!(bp.store().reservation_ttl().as_secs(), 900);
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("guard-bp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn extends_merges_maps_replaces_lists_and_warns_on_loosening() {
    let dir = tempdir("extends");
    std::fs::create_dir_all(dir.join("base")).unwrap();
    std::fs::write(
        dir.join("base/parent.yaml"),
        "blueprint: parent\nacl_tier: ACL-2\ncurrency: EUR\nagents:\n  bot:\n    tools: [a, b]\ntools:\n  r: { kind: refund, customer_param: customer_id, approval_above: 100 }\ntripwires:\n  max_refund: 300\n  max_discount_percent: 10\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("child.yaml"),
        "blueprint: child\nextends: base/parent.yaml\nagents:\n  bot:\n    tools: [r]\ntools:\n  r: { approval_above: 50 }\ntripwires:\n  max_refund: 400\n",
    )
    .unwrap();
    let bp = Blueprint::from_file(dir.join("child.yaml")).unwrap();
    assert_eq!(bp.name(), "child");
    assert_eq!(bp.currency().code(), "EUR");
    // Lists replace.
    let tools: Vec<&String> = bp.agent_tools("bot").unwrap().iter().collect();
    assert_eq!(tools, ["r"]);
    // Maps merge deeply: the child's approval_above, the parent's kind and customer_param.
    let r = bp.tool("r");
    assert_eq!(r.kind(), ToolKind::Refund);
    assert_eq!(r.customer_param(), Some("customer_id"));
    assert_eq!(r.approval_above().unwrap().minor_units(), 5_000);
    assert_eq!(bp.tripwires().max_refund().minor_units(), 40_000);
    assert_eq!(bp.tripwires().max_discount_hundredths(), 1_000);
    // Raising a parent's limit loads, with a warning naming the key.
    assert!(
        bp.warnings()
            .iter()
            .any(|w| w.contains("tripwires.max_refund") && w.contains("loosened")),
        "{:?}",
        bp.warnings()
    );
    assert!(
        !bp.warnings().iter().any(|w| w.contains("approval_above")),
        "tightening is not loosening"
    );
}

#[test]
fn extends_cycle_and_missing_parent_are_errors() {
    let dir = tempdir("cycle");
    std::fs::write(
        dir.join("a.yaml"),
        "blueprint: a\nextends: b.yaml\nacl_tier: ACL-2\ncurrency: USD\n",
    )
    .unwrap();
    std::fs::write(dir.join("b.yaml"), "blueprint: b\nextends: a.yaml\n").unwrap();
    let err = Blueprint::from_file(dir.join("a.yaml")).unwrap_err();
    assert_eq!(err.kind(), K::ExtendsCycle, "{err}");
    assert!(err.message().contains("a.yaml"), "{err}");
    // Reported on the `extends` line of the file that closes the cycle.
    assert!(err.file().ends_with("b.yaml"), "{err}");
    assert_eq!((err.line(), err.column()), (Some(2), Some(10)), "{err}");

    std::fs::write(dir.join("self.yaml"), "blueprint: s\nextends: self.yaml\n").unwrap();
    assert_eq!(
        Blueprint::from_file(dir.join("self.yaml"))
            .unwrap_err()
            .kind(),
        K::ExtendsCycle
    );

    std::fs::write(
        dir.join("orphan.yaml"),
        "blueprint: o\nextends: nowhere.yaml\n",
    )
    .unwrap();
    let err = Blueprint::from_file(dir.join("orphan.yaml")).unwrap_err();
    assert_eq!(err.kind(), K::Io);
    assert_eq!(err.line(), Some(2), "{err}");

    std::fs::write(
        dir.join("eur.yaml"),
        "blueprint: e\nacl_tier: ACL-2\ncurrency: EUR\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("usd.yaml"),
        "blueprint: u\nextends: eur.yaml\ncurrency: USD\n",
    )
    .unwrap();
    assert_eq!(
        Blueprint::from_file(dir.join("usd.yaml"))
            .unwrap_err()
            .kind(),
        K::Inconsistent
    );
}

#[test]
fn errors_in_a_parent_name_the_parent_file() {
    let dir = tempdir("parent-err");
    std::fs::write(
        dir.join("p.yaml"),
        "blueprint: p\nacl_tier: ACL-2\ncurrency: USD\ntripwires:\n  max_refunds: 1\n",
    )
    .unwrap();
    std::fs::write(dir.join("c.yaml"), "blueprint: c\nextends: p.yaml\n").unwrap();
    let err = Blueprint::from_file(dir.join("c.yaml")).unwrap_err();
    assert_eq!(err.kind(), K::UnknownKey);
    assert!(err.file().ends_with("p.yaml"), "{err}");
    assert_eq!(err.line(), Some(5));
}

#[test]
fn invalid_utf8_and_huge_files_are_refused() {
    let dir = tempdir("bytes");
    std::fs::write(dir.join("bad.yaml"), b"blueprint: \xff\xfe\n").unwrap();
    assert_eq!(
        Blueprint::from_file(dir.join("bad.yaml"))
            .unwrap_err()
            .kind(),
        K::Syntax
    );
    let big = format!("{BASE}# {}\n", "x".repeat(5 * 1024 * 1024));
    std::fs::write(dir.join("big.yaml"), big).unwrap();
    assert_eq!(
        Blueprint::from_file(dir.join("big.yaml"))
            .unwrap_err()
            .kind(),
        K::Io
    );
}

#[test]
fn undeclared_sensitive_tools_warn() {
    let bp = load(&format!(
        "{BASE}agents:\n  bot:\n    tools: [issue_refund, track_shipment]\n"
    ))
    .unwrap();
    assert_eq!(bp.warnings().len(), 1, "{:?}", bp.warnings());
    assert!(bp.warnings()[0].contains("issue_refund"));
}

#[test]
fn on_store_unavailable_is_a_choice_for_read_tools_only() {
    let head = "blueprint: t\nacl_tier: ACL-2\ncurrency: USD\nagents:\n  bot:\n    tools: [status, refund]\n";
    let ok = Blueprint::from_yaml_str(
        &format!("{head}tools:\n  status:\n    kind: read\n    on_store_unavailable: allow\n  refund: {{ kind: refund }}\n"),
        "ok.yaml",
    )
    .unwrap();
    assert_eq!(
        ok.tool("status").on_store_unavailable(),
        guard_core::OnStoreUnavailable::Allow
    );
    // Every other tool, and every undeclared one, blocks while the store is down.
    assert_eq!(
        ok.tool("refund").on_store_unavailable(),
        guard_core::OnStoreUnavailable::Block
    );
    assert_eq!(
        ok.tool("not_declared").on_store_unavailable(),
        guard_core::OnStoreUnavailable::Block
    );

    // Block style: the error points at the key's own line.
    let err = Blueprint::from_yaml_str(
        &format!("{head}tools:\n  status: {{ kind: read }}\n  refund:\n    kind: refund\n    on_store_unavailable: allow\n"),
        "money.yaml",
    )
    .unwrap_err();
    assert_eq!(err.kind(), K::Inconsistent, "{err}");
    assert_eq!(err.file(), "money.yaml");
    assert_eq!((err.line(), err.column()), (Some(11), Some(5)), "{err}");
    assert!(
        err.message().contains("tools.refund.on_store_unavailable"),
        "{err}"
    );
    // Flow style, on an account tool, and even `block` (the key is not theirs to set).
    let err = Blueprint::from_yaml_str(
        &format!(
            "{head}tools:\n  refund: {{ kind: account_change, on_store_unavailable: block }}\n"
        ),
        "account.yaml",
    )
    .unwrap_err();
    assert_eq!((err.line(), err.column()), (Some(8), Some(35)), "{err}");
    assert!(err.message().contains("account_change"), "{err}");
    // Unknown values are refused too.
    let err = Blueprint::from_yaml_str(
        &format!("{head}tools:\n  status: {{ on_store_unavailable: maybe }}\n"),
        "value.yaml",
    )
    .unwrap_err();
    assert_eq!(err.line(), Some(8), "{err}");

    // A child that turns an allowed read tool into a refund is refused on its `kind` line.
    let dir = tempdir("store-failure");
    std::fs::write(
        dir.join("parent.yaml"),
        format!("{head}tools:\n  status: {{ kind: read, on_store_unavailable: allow }}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("child.yaml"),
        "blueprint: c\nextends: parent.yaml\ntools:\n  status:\n    kind: refund\n",
    )
    .unwrap();
    let err = Blueprint::from_file(dir.join("child.yaml")).unwrap_err();
    assert!(err.file().ends_with("child.yaml"), "{err}");
    assert_eq!(err.line(), Some(5), "{err}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_file_that_never_ends_is_refused_at_the_size_limit() {
    // /dev/zero reports a size of 0 and never ends: the size limit must bound the read itself.
    for result in [
        Blueprint::from_file("/dev/zero"),
        load("extends: /dev/zero\nblueprint: t\n"),
    ] {
        let e = result.unwrap_err();
        assert_eq!(e.kind(), K::Io, "{e}");
        assert!(e.message().contains("limited to"), "{e}");
    }
}
