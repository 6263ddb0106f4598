use super::*;

#[test]
fn embedded_default_loads() {
    let bp = Blueprint::embedded_default().unwrap();
    assert_eq!(bp.name(), "customer-service-v1");
    assert!(bp.warnings().is_empty(), "{:?}", bp.warnings());
}

/// The README's tier table is documentation users rely on: it must say what the code does.
#[test]
fn readme_tier_table_matches_the_defaults() {
    use super::defaults::TIERS;
    let readme = include_str!("../../../README.md");
    let row = |key: &str| -> Vec<String> {
        let line = readme
            .lines()
            .find(|l| l.starts_with(&format!("| {key} |")))
            .unwrap_or_else(|| panic!("README has no tier row for {key}"));
        line.split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .skip(1)
            .map(String::from)
            .collect()
    };
    let bp = |x: u16| format!("{}", f64::from(x) / 10_000.0);
    let kinds =
        |t: &super::defaults::TierDefaults| t.review.iter().map(|k| k.as_str()).collect::<Vec<_>>();
    type Column = Box<dyn Fn(&super::defaults::TierDefaults) -> String>;
    let checks: Vec<(&str, Column)> = vec![
        ("max_refund", Box::new(|t| t.max_refund.to_string())),
        ("approval_above", Box::new(|t| t.approval_above.to_string())),
        (
            "max_discount_percent",
            Box::new(|t| t.max_discount_percent.to_string()),
        ),
        (
            "daily_user_refund_limit",
            Box::new(|t| t.daily_user_refund_limit.to_string()),
        ),
        (
            "weekly_user_refund_limit",
            Box::new(|t| t.weekly_user_refund_limit.to_string()),
        ),
        (
            "refund_frequency_threshold",
            Box::new(|t| t.refund_frequency_threshold.to_string()),
        ),
        (
            "agent_hourly_refund_limit",
            Box::new(|t| t.agent_hourly_refund_limit.to_string()),
        ),
        (
            "takeover_window (hours)",
            Box::new(|t| t.takeover_window_hours.to_string()),
        ),
        ("nudge_ratio", Box::new(move |t| bp(t.nudge_ratio_bp))),
        (
            "sentiment_shift_threshold",
            Box::new(move |t| bp(t.sentiment_shift_bp)),
        ),
        (
            "trust half_life (days)",
            Box::new(|t| t.trust_half_life_days.to_string()),
        ),
        (
            "trust escalate_below",
            Box::new(move |t| bp(t.escalate_below_bp)),
        ),
        ("trust block_below", Box::new(move |t| bp(t.block_below_bp))),
        (
            "scanner block_threshold",
            Box::new(move |t| bp(t.block_threshold_bp)),
        ),
        (
            "scanner flag_threshold",
            Box::new(move |t| bp(t.flag_threshold_bp)),
        ),
    ];
    for (key, value) in checks {
        let cells = row(key);
        let code: Vec<String> = TIERS.iter().map(&value).collect();
        assert_eq!(cells, code, "README row {key}");
    }
    let cells = row("kinds flagged for review");
    assert_eq!(cells.len(), TIERS.len());
    for (tier, cell) in TIERS.iter().zip(&cells) {
        let now = kinds(tier);
        let expected = if now.is_empty() {
            "none".to_string()
        } else {
            now.join(", ")
        };
        assert_eq!(cell, &expected);
    }
}
