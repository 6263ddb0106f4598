//! Limits compiled into a `#[guard]` attribute, combined with the blueprint strictest-wins: a
//! blueprint can tighten a compiled-in limit, never loosen it.

use std::borrow::Cow;

use crate::money::{Money, Ratio};
use crate::policy::{Blueprint, ToolKind, ToolPolicy, Tripwires};
use crate::tier::AclTier;

use super::decision::{reply, Intervention, Reason};

/// One tripwire set in the attribute, as its literal text (already validated at compile time
/// by the same parser the loader uses; only the blueprint's currency can still refuse it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tripwire {
    MaxRefund(&'static str),
    ApprovalAbove(&'static str),
    MaxDiscountPercent(&'static str),
    DailyUserRefundLimit(&'static str),
    WeeklyUserRefundLimit(&'static str),
    AgentHourlyRefundLimit(&'static str),
    RefundFrequencyThreshold(u32),
    TakeoverWindow(&'static str),
    NudgeRatio(&'static str),
}

/// What a `#[guard]` attribute adds to the blueprint.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub blueprint: Option<&'static str>,
    pub tier: Option<&'static str>,
    pub tripwires: &'static [Tripwire],
}

/// The limits that apply to one call.
pub(crate) struct Effective<'a> {
    pub tripwires: Cow<'a, Tripwires>,
    pub approval_above: Option<Money>,
    pub review: bool,
}

impl<'a> Effective<'a> {
    pub(crate) fn plain(bp: &'a Blueprint, tool: &ToolPolicy) -> Self {
        Self {
            tripwires: Cow::Borrowed(&bp.tripwires),
            approval_above: tool.approval_above,
            review: tool.review,
        }
    }

    /// The blueprint's limits tightened by the attribute's. A literal the blueprint's currency
    /// cannot hold, or a blueprint other than the one the attribute names, is a BLOCK reason.
    pub(crate) fn with(
        bp: &'a Blueprint,
        tool: &ToolPolicy,
        o: &Overrides,
        out: &mut Vec<Reason>,
    ) -> Self {
        let mut eff = Self::plain(bp, tool);
        if let Some(name) = o.blueprint {
            if name != bp.name {
                out.push(Reason::new(
                    "blueprint_mismatch",
                    Intervention::Block,
                    format!(
                        "the handler is guarded for blueprint {name:?}, but the guard runs {:?}",
                        bp.name
                    ),
                    reply::CANNOT_HERE,
                ));
            }
        }
        if let Some(tier) = o.tier {
            match tier.parse::<AclTier>() {
                Ok(t) if t > bp.acl_tier => {
                    eff.review |= crate::policy::tier_reviews(t, tool.kind);
                }
                Ok(_) => {}
                Err(e) => out.push(invalid(&e.to_string())),
            }
        }
        if o.tripwires.is_empty() {
            return eff;
        }
        let tw = eff.tripwires.to_mut();
        let money = |text: &str| Money::parse(text, bp.currency);
        for t in o.tripwires {
            let result = match *t {
                Tripwire::MaxRefund(x) => {
                    money(x).map(|m| tw.max_refund = min_money(tw.max_refund, m))
                }
                Tripwire::DailyUserRefundLimit(x) => money(x)
                    .map(|m| tw.daily_user_refund_limit = min_money(tw.daily_user_refund_limit, m)),
                Tripwire::WeeklyUserRefundLimit(x) => money(x).map(|m| {
                    tw.weekly_user_refund_limit = min_money(tw.weekly_user_refund_limit, m)
                }),
                Tripwire::AgentHourlyRefundLimit(x) => money(x).map(|m| {
                    tw.agent_hourly_refund_limit = min_money(tw.agent_hourly_refund_limit, m)
                }),
                Tripwire::ApprovalAbove(x) => money(x).map(|m| {
                    // A compiled-in approval threshold applies to a refund tool that has none.
                    if tool.kind == ToolKind::Refund {
                        eff.approval_above =
                            Some(eff.approval_above.map_or(m, |a| min_money(a, m)));
                    }
                }),
                Tripwire::MaxDiscountPercent(x) => match guard_literals::parse_decimal(x)
                    .and_then(|d| d.to_minor(2, x))
                    .map(u32::try_from)
                {
                    Ok(Ok(h)) => {
                        tw.max_discount_hundredths = tw.max_discount_hundredths.min(h);
                        Ok(())
                    }
                    _ => {
                        out.push(invalid(&format!("max_discount_percent {x:?}")));
                        Ok(())
                    }
                },
                Tripwire::RefundFrequencyThreshold(n) => {
                    if let Some(n) = std::num::NonZeroU32::new(n) {
                        tw.refund_frequency_threshold = tw.refund_frequency_threshold.min(n);
                    }
                    Ok(())
                }
                Tripwire::TakeoverWindow(x) => {
                    match guard_literals::parse_duration(x) {
                        Ok(d) => tw.takeover_window = tw.takeover_window.max(d),
                        Err(e) => out.push(invalid(&e.to_string())),
                    }
                    Ok(())
                }
                Tripwire::NudgeRatio(x) => {
                    match x.parse::<f64>().ok().and_then(Ratio::from_fraction) {
                        Some(r) => tw.nudge_ratio = tw.nudge_ratio.min(r),
                        None => out.push(invalid(&format!("nudge_ratio {x:?}"))),
                    }
                    Ok(())
                }
            };
            if let Err(e) = result {
                out.push(invalid(&e.to_string()));
            }
        }
        eff
    }
}

fn min_money(a: Money, b: Money) -> Money {
    if b.minor_units() < a.minor_units() {
        b
    } else {
        a
    }
}

fn invalid(what: &str) -> Reason {
    Reason::new(
        "invalid_guard_attribute",
        Intervention::Block,
        format!("the #[guard] attribute's limit cannot apply under this blueprint: {what}"),
        reply::CANNOT_HERE,
    )
}
