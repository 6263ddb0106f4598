//! Per-transaction tripwires: refund amount, discount percentage, approval threshold, review.

use crate::money::{Currency, Money};
use crate::policy::{Blueprint, ToolKind, ToolPolicy, Tripwires};

use super::decision::{reply, Intervention, Reason};
use super::value::Value;

fn malformed(message: String) -> Reason {
    Reason::new(
        "malformed_param",
        Intervention::Block,
        message,
        reply::CHECK_DETAILS,
    )
}

fn missing(param: &str, what: &str) -> Reason {
    Reason::new(
        "missing_param",
        Intervention::Block,
        format!("missing parameter `{param}` ({what})"),
        reply::CHECK_DETAILS,
    )
}

/// Reads the amount of a refund call in the blueprint's currency.
///
/// Accepted: a number or string in major units (`500`, `"500.00"`), or an object
/// `{"amount"|"value": ..., "currency": "USD"}`; a sibling `currency` parameter also names the
/// currency. Anything else, another currency, zero or more decimals than the currency has is a
/// reason to BLOCK, returned as `Err`.
pub(crate) fn amount(
    bp: &Blueprint,
    tool: &ToolPolicy,
    params: &Value,
) -> Result<Option<Money>, Reason> {
    let Some(param) = tool.amount_param.as_deref() else {
        return Ok(None);
    };
    let value = params
        .get(param)
        .filter(|v| **v != Value::Null)
        .ok_or_else(|| missing(param, "the amount"))?;
    let (text, nested_currency) = match value {
        Value::Number(t) | Value::String(t) => (t.as_str(), None),
        Value::Object(_) => {
            let inner = value.get("amount").or_else(|| value.get("value"));
            let text = inner.and_then(Value::as_text).ok_or_else(|| {
                malformed(format!(
                    "`{param}` must hold `amount` or `value` as a number or string"
                ))
            })?;
            (text, value.get("currency"))
        }
        other => {
            return Err(malformed(format!(
                "`{param}` must be an amount, got {}",
                other.type_name()
            )))
        }
    };
    let expected = bp.currency;
    for named in [nested_currency, params.get(&tool.currency_param)]
        .into_iter()
        .flatten()
    {
        let code = named
            .as_text()
            .ok_or_else(|| malformed(format!("currency must be a code such as {expected}")))?;
        check_currency(code, expected)?;
    }
    let money = Money::parse(text, expected).map_err(|e| malformed(format!("`{param}`: {e}")))?;
    if money.minor_units() <= 0 {
        return Err(malformed(format!(
            "`{param}` must be above zero, got {text}"
        )));
    }
    Ok(Some(money))
}

fn check_currency(code: &str, expected: Currency) -> Result<(), Reason> {
    if code == expected.code() {
        return Ok(());
    }
    Err(Reason::new(
        "currency_mismatch",
        Intervention::Block,
        format!("the call is in {code:?}; this blueprint works in {expected}"),
        reply::CANNOT_HERE,
    ))
}

/// Amount against `max_refund`, its nudge band and `approval_above`.
pub(crate) fn refund_limits(
    tw: &Tripwires,
    approval_above: Option<Money>,
    amount: Money,
    out: &mut Vec<Reason>,
) {
    if amount.minor_units() > tw.max_refund.minor_units() {
        out.push(Reason::new(
            "max_refund_exceeded",
            Intervention::Block,
            format!(
                "refund of {amount} is above the per-transaction limit of {}",
                tw.max_refund
            ),
            reply::CANNOT_HERE,
        ));
    } else if amount.above_ratio_of(tw.max_refund, tw.nudge_ratio) {
        out.push(Reason::new(
            "near_max_refund",
            Intervention::Nudge,
            format!(
                "refund of {amount} is above {}% of the per-transaction limit of {}; verify the order and the reason",
                tw.nudge_ratio.basis_points() / 100,
                tw.max_refund
            ),
            reply::CANNOT_HERE,
        ));
    }
    if let Some(threshold) = approval_above {
        if amount.minor_units() > threshold.minor_units() {
            out.push(Reason::new(
                "approval_required",
                Intervention::Escalate,
                format!("refund of {amount} is above the approval threshold of {threshold}"),
                reply::SPECIALIST,
            ));
        }
    }
}

/// Reads a discount percentage as hundredths of a percent (`15` and `"15.00"` are 1500).
pub(crate) fn percent(tool: &ToolPolicy, params: &Value) -> Result<Option<u32>, Reason> {
    let Some(param) = tool.percent_param.as_deref() else {
        return Ok(None);
    };
    let value = params
        .get(param)
        .filter(|v| **v != Value::Null)
        .ok_or_else(|| missing(param, "the percentage"))?;
    let text = value.as_text().ok_or_else(|| {
        malformed(format!(
            "`{param}` must be a number, got {}",
            value.type_name()
        ))
    })?;
    let text = text.strip_suffix('%').unwrap_or(text);
    let hundredths = guard_literals::parse_decimal(text)
        .and_then(|d| d.to_minor(2, text))
        .map_err(|e| malformed(format!("`{param}`: {e}")))?;
    u32::try_from(hundredths)
        .map(Some)
        .map_err(|_| malformed(format!("`{param}` is out of range")))
}

/// Percentage against `max_discount_percent` and its nudge band.
pub(crate) fn discount_limits(tw: &Tripwires, hundredths: u32, out: &mut Vec<Reason>) {
    let max = tw.max_discount_hundredths;
    let shown = |h: u32| format!("{}.{:02}%", h / 100, h % 100);
    if hundredths > max {
        out.push(Reason::new(
            "max_discount_exceeded",
            Intervention::Block,
            format!(
                "discount of {} is above the limit of {}",
                shown(hundredths),
                shown(max)
            ),
            reply::CANNOT_HERE,
        ));
    } else if u64::from(hundredths) * 10_000
        > u64::from(max) * u64::from(tw.nudge_ratio.basis_points())
    {
        out.push(Reason::new(
            "near_max_discount",
            Intervention::Nudge,
            format!(
                "discount of {} is above {}% of the limit of {}; verify it is warranted",
                shown(hundredths),
                tw.nudge_ratio.basis_points() / 100,
                shown(max)
            ),
            reply::CANNOT_HERE,
        ));
    }
}

/// Tools marked for review (by kind and tier, or `review: true`) FLAG.
pub(crate) fn review(review: bool, kind: ToolKind, name: &str, out: &mut Vec<Reason>) {
    if review {
        let what = match kind {
            ToolKind::DataExport => "data export",
            ToolKind::AccountChange => "account change",
            _ => "tool",
        };
        out.push(Reason::new(
            "review_required",
            Intervention::Flag,
            format!("{what} `{name}` is queued for review"),
            reply::CANNOT_HERE,
        ));
    }
}
