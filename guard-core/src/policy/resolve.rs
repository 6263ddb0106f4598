//! From raw (per-file, all optional) to a `Blueprint` (merged, defaulted, cross-checked).

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use super::defaults::{TierDefaults, TIERS};
use super::load::{BlueprintError, BlueprintErrorKind};
use super::raw::*;
use super::{
    ApprovalPolicy, Blueprint, CustomPattern, Mode, ModelChoice, ScannerPolicy, StorePolicy,
    ToolKind, ToolPolicy, Tripwires, TrustPolicy,
};
use crate::money::{Currency, Money, Ratio};
use crate::tier::AclTier;

/// Upper bound on `scanner.max_message_bytes`: beyond it scanning stops being microseconds.
const MAX_MESSAGE_BYTES_CAP: u32 = 16 * 1024 * 1024;

// ---- merge: child over parent; maps merge per key, lists and scalars replace ----

fn pick<T>(child: Option<T>, parent: Option<T>) -> Option<T> {
    child.or(parent)
}

fn merge_opt<T>(child: Option<T>, parent: Option<T>, f: impl FnOnce(T, T) -> T) -> Option<T> {
    match (child, parent) {
        (Some(c), Some(p)) => Some(f(c, p)),
        (c, p) => c.or(p),
    }
}

fn merge_map<V>(child: StrictMap<V>, parent: StrictMap<V>, f: impl Fn(V, V) -> V) -> StrictMap<V> {
    let mut out = parent.0;
    for (key, value) in child.0 {
        match out.iter().position(|(k, _)| *k == key) {
            Some(i) => {
                let (k, old) = out.remove(i);
                out.insert(i, (k, f(value, old)));
            }
            None => out.push((key, value)),
        }
    }
    StrictMap(out)
}

pub(super) fn merge(c: RawBlueprint, p: RawBlueprint) -> RawBlueprint {
    RawBlueprint {
        blueprint: pick(c.blueprint, p.blueprint),
        extends: c.extends,
        acl_tier: pick(c.acl_tier, p.acl_tier),
        mode: pick(c.mode, p.mode),
        currency: pick(c.currency, p.currency),
        agents: merge_opt(c.agents, p.agents, |c, p| {
            merge_map(c, p, |c, p| RawAgent {
                tools: pick(c.tools, p.tools),
            })
        }),
        tools: merge_opt(c.tools, p.tools, |c, p| merge_map(c, p, merge_tool)),
        tripwires: merge_opt(c.tripwires, p.tripwires, |c, p| RawTripwires {
            max_refund: pick(c.max_refund, p.max_refund),
            max_discount_percent: pick(c.max_discount_percent, p.max_discount_percent),
            daily_user_refund_limit: pick(c.daily_user_refund_limit, p.daily_user_refund_limit),
            weekly_user_refund_limit: pick(c.weekly_user_refund_limit, p.weekly_user_refund_limit),
            refund_frequency_threshold: pick(
                c.refund_frequency_threshold,
                p.refund_frequency_threshold,
            ),
            agent_hourly_refund_limit: pick(
                c.agent_hourly_refund_limit,
                p.agent_hourly_refund_limit,
            ),
            takeover_window: pick(c.takeover_window, p.takeover_window),
            sentiment_shift_threshold: pick(
                c.sentiment_shift_threshold,
                p.sentiment_shift_threshold,
            ),
            nudge_ratio: pick(c.nudge_ratio, p.nudge_ratio),
            frequency: merge_opt(c.frequency, p.frequency, |c, p| merge_map(c, p, |c, _| c)),
        }),
        trust: merge_opt(c.trust, p.trust, |c, p| RawTrust {
            half_life: pick(c.half_life, p.half_life),
            escalate_below: pick(c.escalate_below, p.escalate_below),
            block_below: pick(c.block_below, p.block_below),
        }),
        scanner: merge_opt(c.scanner, p.scanner, |c, p| RawScanner {
            block_threshold: pick(c.block_threshold, p.block_threshold),
            flag_threshold: pick(c.flag_threshold, p.flag_threshold),
            max_message_bytes: pick(c.max_message_bytes, p.max_message_bytes),
            custom_patterns: pick(c.custom_patterns, p.custom_patterns),
            baseline: pick(c.baseline, p.baseline),
            model: pick(c.model, p.model),
        }),
        store: merge_opt(c.store, p.store, |c, p| RawStore {
            url: pick(c.url, p.url),
            reservation_ttl: pick(c.reservation_ttl, p.reservation_ttl),
            cluster: pick(c.cluster, p.cluster),
        }),
        audit: merge_opt(c.audit, p.audit, |c, p| RawAudit {
            raw_text: pick(c.raw_text, p.raw_text),
        }),
        approvals: merge_opt(c.approvals, p.approvals, |c, p| RawApprovals {
            ticket_ttl: pick(c.ticket_ttl, p.ticket_ttl),
            token_ttl: pick(c.token_ttl, p.token_ttl),
        }),
    }
}

fn merge_tool(c: RawTool, p: RawTool) -> RawTool {
    RawTool {
        kind: pick(c.kind, p.kind),
        customer_param: pick(c.customer_param, p.customer_param),
        amount_param: pick(c.amount_param, p.amount_param),
        currency_param: pick(c.currency_param, p.currency_param),
        percent_param: pick(c.percent_param, p.percent_param),
        approval_above: pick(c.approval_above, p.approval_above),
        owned_params: merge_opt(c.owned_params, p.owned_params, |c, p| {
            merge_map(c, p, |c, _| c)
        }),
        free_params: pick(c.free_params, p.free_params),
        review: pick(c.review, p.review),
        on_store_unavailable: pick(c.on_store_unavailable, p.on_store_unavailable),
    }
}

// ---- loosening: a child that relaxes what its parent set ----

/// Warnings for every limit the child relaxes relative to values its parent set explicitly.
pub(super) fn loosening(parent: &RawBlueprint, child: &RawBlueprint, file: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut warn = |key: &str, from: String, to: String| {
        out.push(format!(
            "{file}: {key} loosened from {from} to {to} (parent's value)"
        ));
    };
    if let (Some(p), Some(c)) = (parent.acl_tier, child.acl_tier) {
        if c.0 < p.0 {
            warn("acl_tier", p.0.to_string(), c.0.to_string());
        }
    }
    let raw = |b: &RawBlueprint| b.audit.as_ref().and_then(|a| a.raw_text);
    if raw(parent) == Some(false) && raw(child) == Some(true) {
        warn("audit.raw_text", "false".into(), "true".into());
    }
    if parent.mode == Some(Mode::Enforce) && child.mode == Some(Mode::Shadow) {
        warn("mode", "enforce".into(), "shadow".into());
    }
    if let (Some(p), Some(c)) = (&parent.tripwires, &child.tripwires) {
        let money = [
            ("tripwires.max_refund", p.max_refund, c.max_refund),
            (
                "tripwires.daily_user_refund_limit",
                p.daily_user_refund_limit,
                c.daily_user_refund_limit,
            ),
            (
                "tripwires.weekly_user_refund_limit",
                p.weekly_user_refund_limit,
                c.weekly_user_refund_limit,
            ),
            (
                "tripwires.agent_hourly_refund_limit",
                p.agent_hourly_refund_limit,
                c.agent_hourly_refund_limit,
            ),
        ];
        for (key, p, c) in money {
            if let (Some(p), Some(c)) = (p, c) {
                if c.0 > p.0 {
                    warn(
                        key,
                        format!("{} minor units", p.0),
                        format!("{} minor units", c.0),
                    );
                }
            }
        }
        if let (Some(p), Some(c)) = (p.max_discount_percent, c.max_discount_percent) {
            if c.0 > p.0 {
                warn("tripwires.max_discount_percent", pct(p.0), pct(c.0));
            }
        }
        if let (Some(p), Some(c)) = (p.refund_frequency_threshold, c.refund_frequency_threshold) {
            if c > p {
                warn(
                    "tripwires.refund_frequency_threshold",
                    p.to_string(),
                    c.to_string(),
                );
            }
        }
        if let (Some(p), Some(c)) = (p.takeover_window, c.takeover_window) {
            if c.0 < p.0 {
                warn("tripwires.takeover_window", secs(p.0), secs(c.0));
            }
        }
        if let (Some(p), Some(c)) = (p.nudge_ratio, c.nudge_ratio) {
            if c.0 > p.0 {
                warn("tripwires.nudge_ratio", ratio(p.0), ratio(c.0));
            }
        }
    }
    if let (Some(p), Some(c)) = (&parent.trust, &child.trust) {
        for (key, p, c) in [
            ("trust.escalate_below", p.escalate_below, c.escalate_below),
            ("trust.block_below", p.block_below, c.block_below),
        ] {
            if let (Some(p), Some(c)) = (p, c) {
                if c.0 < p.0 {
                    warn(key, ratio(p.0), ratio(c.0));
                }
            }
        }
    }
    if let (Some(p), Some(c)) = (&parent.scanner, &child.scanner) {
        for (key, p, c) in [
            (
                "scanner.block_threshold",
                p.block_threshold,
                c.block_threshold,
            ),
            ("scanner.flag_threshold", p.flag_threshold, c.flag_threshold),
        ] {
            if let (Some(p), Some(c)) = (p, c) {
                if c.0 > p.0 {
                    warn(key, ratio(p.0), ratio(c.0));
                }
            }
        }
    }
    if let (Some(p), Some(c)) = (&parent.tools, &child.tools) {
        for (name, ct) in &c.0 {
            let Some((_, pt)) = p.0.iter().find(|(n, _)| n == name) else {
                continue;
            };
            if let (Some(pa), Some(ca)) = (pt.approval_above, ct.approval_above) {
                if ca.0 > pa.0 {
                    warn(
                        &format!("tools.{name}.approval_above"),
                        format!("{} minor units", pa.0),
                        format!("{} minor units", ca.0),
                    );
                }
            }
            if pt.review == Some(true) && ct.review == Some(false) {
                warn(
                    &format!("tools.{name}.review"),
                    "true".into(),
                    "false".into(),
                );
            }
        }
    }
    out
}

fn pct(hundredths: u32) -> String {
    format!("{}.{:02}%", hundredths / 100, hundredths % 100)
}
fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs())
}
fn ratio(r: Ratio) -> String {
    format!("{}", r.as_f64())
}

// ---- resolve: defaults and cross-checks ----

fn err(kind: BlueprintErrorKind, file: &str, msg: impl Into<String>) -> BlueprintError {
    BlueprintError::new(kind, file, msg)
}

fn tier_defaults(tier: AclTier) -> &'static TierDefaults {
    // Tier levels are 0..=5 by construction, matching the table's length.
    TIERS.get(usize::from(tier.level())).unwrap_or(&TIERS[5])
}

fn major(units: u32, currency: Currency) -> Money {
    let factor = 10i64.pow(currency.decimals());
    Money::from_minor(i64::from(units) * factor, currency)
}

fn bp(basis_points: u16) -> Ratio {
    Ratio::from_basis_points(basis_points).unwrap_or_default()
}

/// Names that suggest money or identity: an agent tool with such a name that is not declared
/// under `tools` would run as an unchecked read tool, which is worth a warning.
const SENSITIVE_WORDS: &[&str] = &[
    "refund", "discount", "credit", "payment", "pay", "export", "email", "address", "password",
    "account", "transfer", "coupon", "cancel", "delete",
];

pub(super) fn resolve(
    raw: RawBlueprint,
    file: &str,
    mut warnings: Vec<String>,
    source_text: String,
) -> Result<Blueprint, BlueprintError> {
    use BlueprintErrorKind as K;
    let raw_audit_raw_text = raw.audit.as_ref().and_then(|a| a.raw_text).unwrap_or(false);
    let name = raw.blueprint.ok_or_else(|| {
        err(
            K::MissingKey,
            file,
            "missing key `blueprint` (the blueprint's name)",
        )
    })?;
    if name.trim().is_empty() {
        return Err(err(
            K::InvalidValue,
            file,
            "`blueprint` must name the blueprint",
        ));
    }
    let tier = raw
        .acl_tier
        .ok_or_else(|| {
            err(
                K::MissingKey,
                file,
                "missing key `acl_tier` (ACL-0 .. ACL-5): it sets every default",
            )
        })?
        .0;
    let currency = raw
        .currency
        .ok_or_else(|| {
            err(
                K::MissingKey,
                file,
                "missing key `currency` (an ISO 4217 code such as USD)",
            )
        })?
        .0;
    let d = tier_defaults(tier);
    let money = |lit: Option<MoneyLit>, default: u32| {
        lit.map_or_else(
            || major(default, currency),
            |m| Money::from_minor(m.0, currency),
        )
    };

    let tw = raw.tripwires.unwrap_or_default();
    let tripwires = Tripwires {
        max_refund: money(tw.max_refund, d.max_refund),
        max_discount_hundredths: tw
            .max_discount_percent
            .map_or(d.max_discount_percent * 100, |p| p.0),
        daily_user_refund_limit: money(tw.daily_user_refund_limit, d.daily_user_refund_limit),
        weekly_user_refund_limit: money(tw.weekly_user_refund_limit, d.weekly_user_refund_limit),
        refund_frequency_threshold: tw
            .refund_frequency_threshold
            .unwrap_or(NonZeroU32::new(d.refund_frequency_threshold).unwrap_or(NonZeroU32::MIN)),
        agent_hourly_refund_limit: money(tw.agent_hourly_refund_limit, d.agent_hourly_refund_limit),
        takeover_window: tw
            .takeover_window
            .map_or(Duration::from_secs(d.takeover_window_hours * 3600), |x| x.0),
        sentiment_shift_threshold: tw
            .sentiment_shift_threshold
            .map_or(bp(d.sentiment_shift_bp), |x| x.0),
        nudge_ratio: tw.nudge_ratio.map_or(bp(d.nudge_ratio_bp), |x| x.0),
        frequency: Vec::new(),
    };
    let mut tripwires = tripwires;
    for (kind_name, n) in tw.frequency.unwrap_or_default().0 {
        let kind = ToolKind::from_name(&kind_name).ok_or_else(|| {
            err(K::InvalidValue, file, format!("tripwires.frequency: unknown tool kind `{kind_name}`; expected read, write, discount, account_change or data_export"))
        })?;
        if kind == ToolKind::Refund {
            return Err(err(
                K::Inconsistent,
                file,
                "tripwires.frequency.refund: use refund_frequency_threshold",
            ));
        }
        tripwires.frequency.push((kind, n));
    }

    let tr = raw.trust.unwrap_or_default();
    let trust = TrustPolicy {
        half_life: tr
            .half_life
            .map_or(Duration::from_secs(d.trust_half_life_days * 86_400), |x| {
                x.0
            }),
        escalate_below: tr.escalate_below.map_or(bp(d.escalate_below_bp), |x| x.0),
        block_below: tr.block_below.map_or(bp(d.block_below_bp), |x| x.0),
    };
    if trust.block_below > trust.escalate_below {
        return Err(err(
            K::Inconsistent,
            file,
            format!(
                "trust.block_below ({}) is above trust.escalate_below ({})",
                trust.block_below.as_f64(),
                trust.escalate_below.as_f64()
            ),
        ));
    }

    let sc = raw.scanner.unwrap_or_default();
    let max_bytes = sc.max_message_bytes.map_or(262_144, NonZeroU32::get);
    if max_bytes > MAX_MESSAGE_BYTES_CAP {
        return Err(err(
            K::InvalidValue,
            file,
            format!(
                "scanner.max_message_bytes {max_bytes} is above the cap of {MAX_MESSAGE_BYTES_CAP}"
            ),
        ));
    }
    let mut custom_patterns = Vec::new();
    for p in sc.custom_patterns.unwrap_or_default() {
        if p.id.trim().is_empty() {
            return Err(err(
                K::InvalidValue,
                file,
                "scanner.custom_patterns: every pattern needs a non-empty id",
            ));
        }
        if custom_patterns.iter().any(|c: &CustomPattern| c.id == p.id) {
            return Err(err(
                K::DuplicateKey,
                file,
                format!("scanner.custom_patterns: duplicate id {:?}", p.id),
            ));
        }
        custom_patterns.push(CustomPattern {
            id: p.id,
            pattern: p.pattern,
            score: p.score.0.as_f64(),
        });
    }
    let base_dir = Path::new(file).parent().unwrap_or(Path::new("."));
    let scanner = ScannerPolicy {
        block_threshold: sc
            .block_threshold
            .map_or(bp(d.block_threshold_bp), |x| x.0)
            .as_f64(),
        flag_threshold: sc
            .flag_threshold
            .map_or(bp(d.flag_threshold_bp), |x| x.0)
            .as_f64(),
        max_message_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
        custom_patterns,
        baseline: sc.baseline.map(|b| base_dir.join(b)),
        model: match sc.model.as_deref() {
            None | Some("default") => ModelChoice::Embedded,
            Some("none") => ModelChoice::Off,
            Some("") => {
                return Err(err(
                    K::InvalidValue,
                    file,
                    "scanner.model is empty (a path, \"default\" or \"none\")",
                ))
            }
            Some(path) => ModelChoice::File(base_dir.join(path)),
        },
    };
    if scanner.flag_threshold > scanner.block_threshold {
        return Err(err(
            K::Inconsistent,
            file,
            format!(
                "scanner.flag_threshold ({}) is above scanner.block_threshold ({})",
                scanner.flag_threshold, scanner.block_threshold
            ),
        ));
    }

    let st = raw.store.unwrap_or_default();
    let store = StorePolicy {
        url: st.url.unwrap_or_else(|| "memory".into()),
        reservation_ttl: st
            .reservation_ttl
            .map_or(Duration::from_secs(15 * 60), |x| x.0),
        cluster: st.cluster.unwrap_or(false),
    };
    if store.url != "memory"
        && !store.url.starts_with("redis://")
        && !store.url.starts_with("rediss://")
    {
        return Err(err(
            K::InvalidValue,
            file,
            "store.url must be `memory` or a redis:// URL",
        ));
    }
    let ap = raw.approvals.unwrap_or_default();
    let approvals = ApprovalPolicy {
        ticket_ttl: ap.ticket_ttl.map_or(Duration::from_secs(86_400), |x| x.0),
        token_ttl: ap.token_ttl.map_or(Duration::from_secs(3_600), |x| x.0),
    };

    let mut tools = BTreeMap::new();
    for (tool_name, t) in raw.tools.unwrap_or_default().0 {
        let kind = t.kind.unwrap_or(ToolKind::Read);
        let at = |key: &str| format!("tools.{tool_name}.{key}");
        let amount_param = match kind {
            ToolKind::Refund => Some(t.amount_param.unwrap_or_else(|| "amount".into())),
            _ if t.amount_param.is_some() => {
                return Err(err(
                    K::Inconsistent,
                    file,
                    format!(
                        "{}: only refund tools take an amount (kind is {})",
                        at("amount_param"),
                        kind.as_str()
                    ),
                ));
            }
            _ => None,
        };
        let percent_param = match kind {
            ToolKind::Discount => Some(t.percent_param.unwrap_or_else(|| "percent".into())),
            _ if t.percent_param.is_some() => {
                return Err(err(
                    K::Inconsistent,
                    file,
                    format!(
                        "{}: only discount tools take a percentage (kind is {})",
                        at("percent_param"),
                        kind.as_str()
                    ),
                ));
            }
            _ => None,
        };
        if t.approval_above.is_some() && kind != ToolKind::Refund {
            return Err(err(
                K::Inconsistent,
                file,
                format!(
                    "{}: only refund tools have an approval threshold",
                    at("approval_above")
                ),
            ));
        }
        let free_params: BTreeSet<String> = t.free_params.unwrap_or_default().into_iter().collect();
        let owned_params = t.owned_params.unwrap_or_default().0;
        for named in [
            t.customer_param.as_ref(),
            amount_param.as_ref(),
            percent_param.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if free_params.contains(named) {
                return Err(err(
                    K::Inconsistent,
                    file,
                    format!(
                        "{}: `{named}` cannot be both checked and free",
                        at("free_params")
                    ),
                ));
            }
        }
        for (param, object) in &owned_params {
            if object.trim().is_empty() {
                return Err(err(
                    K::InvalidValue,
                    file,
                    format!(
                        "{}: `{param}` needs an object kind such as order",
                        at("owned_params")
                    ),
                ));
            }
            if free_params.contains(param) {
                return Err(err(
                    K::Inconsistent,
                    file,
                    format!(
                        "{}: `{param}` cannot be both owned and free",
                        at("free_params")
                    ),
                ));
            }
        }
        if t.on_store_unavailable.is_some() && kind != ToolKind::Read {
            return Err(err(
                K::Inconsistent,
                file,
                format!(
                    "{}: only read tools may choose what happens while the store is down (kind is {}; money and account actions always block)",
                    at("on_store_unavailable"),
                    kind.as_str()
                ),
            ));
        }
        let review = t.review.unwrap_or_else(|| d.review.contains(&kind));
        let approval_above =
            (kind == ToolKind::Refund).then(|| money(t.approval_above, d.approval_above));
        tools.insert(
            tool_name.clone(),
            ToolPolicy {
                kind,
                customer_param: t.customer_param,
                amount_param,
                currency_param: t.currency_param.unwrap_or_else(|| "currency".into()),
                percent_param,
                approval_above,
                owned_params,
                free_params,
                review,
                on_store_unavailable: t.on_store_unavailable.unwrap_or_default(),
            },
        );
    }

    let mut agents = BTreeMap::new();
    for (agent, a) in raw.agents.unwrap_or_default().0 {
        let list: BTreeSet<String> = a.tools.unwrap_or_default().into_iter().collect();
        for tool in &list {
            if tool.trim().is_empty() {
                return Err(err(
                    K::InvalidValue,
                    file,
                    format!("agents.{agent}.tools: empty tool name"),
                ));
            }
            if !tools.contains_key(tool) {
                let lower = tool.to_ascii_lowercase();
                if SENSITIVE_WORDS.iter().any(|w| lower.contains(w)) {
                    warnings.push(format!(
                        "{file}: agents.{agent}.tools names `{tool}`, which is not declared under tools: it runs as a read tool with no customer or amount checks"
                    ));
                }
            }
        }
        agents.insert(agent, list);
    }

    Ok(Blueprint {
        name,
        acl_tier: tier,
        mode: raw.mode.unwrap_or(Mode::Enforce),
        currency,
        agents,
        tools,
        undeclared_tool: ToolPolicy::undeclared(),
        tripwires,
        trust,
        scanner,
        store,
        approvals,
        warnings,
        source: file.to_owned(),
        source_text,
        audit_raw_text: raw_audit_raw_text,
    })
}
