//! The blueprint as written in one file: every key optional, every value validated as it is
//! read (so errors carry the file's line and column), nothing defaulted yet.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::money::{Currency, Ratio};
use crate::tier::AclTier;

use super::{Mode, OnStoreUnavailable, ToolKind};

thread_local! {
    /// The decimals of the blueprint's currency while one file is deserialized, so a money
    /// literal with too many places is refused at its own line and column.
    static DECIMALS: Cell<u32> = const { Cell::new(2) };
}

/// Runs `f` with money literals read at `decimals` places.
pub(super) fn with_decimals<T>(decimals: u32, f: impl FnOnce() -> T) -> T {
    let before = DECIMALS.with(|d| d.replace(decimals));
    let out = f();
    DECIMALS.with(|d| d.set(before));
    out
}

/// Error prefixes the loader maps to error kinds.
pub(super) const MONEY: &str = "invalid money: ";
pub(super) const TIER: &str = "invalid tier: ";
pub(super) const DURATION: &str = "invalid duration: ";
pub(super) const DUPLICATE: &str = "duplicate key ";
pub(super) const CURRENCY: &str = "invalid currency: ";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBlueprint {
    pub blueprint: Option<String>,
    pub extends: Option<String>,
    pub acl_tier: Option<TierLit>,
    pub mode: Option<Mode>,
    pub currency: Option<CurrencyLit>,
    pub agents: Option<StrictMap<RawAgent>>,
    pub tools: Option<StrictMap<RawTool>>,
    pub tripwires: Option<RawTripwires>,
    pub trust: Option<RawTrust>,
    pub scanner: Option<RawScanner>,
    pub store: Option<RawStore>,
    pub approvals: Option<RawApprovals>,
    pub audit: Option<RawAudit>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    pub raw_text: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    pub tools: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTool {
    pub kind: Option<ToolKind>,
    pub customer_param: Option<String>,
    pub amount_param: Option<String>,
    pub currency_param: Option<String>,
    pub percent_param: Option<String>,
    pub approval_above: Option<MoneyLit>,
    pub owned_params: Option<StrictMap<String>>,
    pub free_params: Option<Vec<String>>,
    pub review: Option<bool>,
    pub on_store_unavailable: Option<OnStoreUnavailable>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTripwires {
    pub max_refund: Option<MoneyLit>,
    pub max_discount_percent: Option<PercentLit>,
    pub daily_user_refund_limit: Option<MoneyLit>,
    pub weekly_user_refund_limit: Option<MoneyLit>,
    pub refund_frequency_threshold: Option<NonZeroU32>,
    pub agent_hourly_refund_limit: Option<MoneyLit>,
    pub takeover_window: Option<DurationLit>,
    pub sentiment_shift_threshold: Option<RatioLit>,
    pub nudge_ratio: Option<RatioLit>,
    pub frequency: Option<StrictMap<NonZeroU32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrust {
    pub half_life: Option<DurationLit>,
    pub escalate_below: Option<RatioLit>,
    pub block_below: Option<RatioLit>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScanner {
    pub block_threshold: Option<RatioLit>,
    pub flag_threshold: Option<RatioLit>,
    pub max_message_bytes: Option<NonZeroU32>,
    pub custom_patterns: Option<Vec<RawCustomPattern>>,
    pub baseline: Option<String>,
    pub model: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCustomPattern {
    pub id: String,
    pub pattern: String,
    pub score: RatioLit,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub url: Option<String>,
    pub reservation_ttl: Option<DurationLit>,
    pub cluster: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApprovals {
    pub ticket_ttl: Option<DurationLit>,
    pub token_ttl: Option<DurationLit>,
}

/// A YAML mapping whose duplicate keys are an error (a second `max_refund` silently winning
/// is exactly the surprise a policy file must not have). Keeps the file's order.
#[derive(Debug)]
pub(super) struct StrictMap<V>(pub Vec<(String, V)>);

impl<V> Default for StrictMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for StrictMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V_<V> {
            type Value = StrictMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, V)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format_args!("{DUPLICATE}`{key}`")));
                    }
                    let value = map.next_value()?;
                    out.push((key, value));
                }
                Ok(StrictMap(out))
            }
        }
        d.deserialize_map(V_(PhantomData))
    }
}

/// A money literal in the blueprint's currency, as minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MoneyLit(pub i64);

impl<'de> Deserialize<'de> for MoneyLit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // deserialize_str hands over the scalar's text even when it looks like a number, so
        // `500.50` is read as the digits written, never as a float.
        parse_scalar(d, "an amount such as 500 or \"12.50\"", |text| {
            let decimals = DECIMALS.with(Cell::get);
            guard_literals::parse_decimal(text)
                .and_then(|dec| dec.to_minor(decimals, text))
                .map(MoneyLit)
                .map_err(|e| format!("{MONEY}{e}"))
        })
    }
}

/// A percentage with at most two decimals, as hundredths of a percent (`20` is 2000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PercentLit(pub u32);

impl<'de> Deserialize<'de> for PercentLit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_scalar(d, "a percentage such as 20 or \"12.5\"", |text| {
            let hundredths = guard_literals::parse_decimal(text)
                .and_then(|dec| dec.to_minor(2, text))
                .map_err(|e| format!("invalid percentage: {e}"))?;
            match u32::try_from(hundredths) {
                Ok(h) if h <= 10_000 => Ok(PercentLit(h)),
                _ => Err(format!("invalid percentage: {text} is above 100")),
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TierLit(pub AclTier);

impl<'de> Deserialize<'de> for TierLit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_scalar(d, "an ACL tier such as ACL-2", |text| {
            text.parse::<AclTier>()
                .map(TierLit)
                .map_err(|e| format!("{TIER}{e}"))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CurrencyLit(pub Currency);

impl<'de> Deserialize<'de> for CurrencyLit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_scalar(d, "an ISO 4217 code such as USD", |text| {
            Currency::from_code(text)
                .map(CurrencyLit)
                .map_err(|e| format!("{CURRENCY}{e}"))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DurationLit(pub Duration);

impl<'de> Deserialize<'de> for DurationLit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_scalar(d, "a duration such as \"15m\" or \"7d\"", |text| {
            guard_literals::parse_duration(text)
                .map(DurationLit)
                .map_err(|e| format!("{DURATION}{e}"))
        })
    }
}

/// A number in `[0, 1]`. Ratios are not money, so reading them as floats is fine; they are
/// kept as basis points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RatioLit(pub Ratio);

impl<'de> Deserialize<'de> for RatioLit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RV;
        impl Visitor<'_> for RV {
            type Value = RatioLit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number from 0 to 1")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RatioLit, E> {
                Ratio::from_fraction(v).map(RatioLit).ok_or_else(|| {
                    E::custom(format_args!("invalid value: {v} is not between 0 and 1"))
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RatioLit, E> {
                match v {
                    0 => Ok(RatioLit(Ratio::from_basis_points(0).unwrap_or_default())),
                    1 => Ok(RatioLit(
                        Ratio::from_basis_points(10_000).unwrap_or_default(),
                    )),
                    _ => Err(E::custom(format_args!(
                        "invalid value: {v} is not between 0 and 1"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RatioLit, E> {
                u64::try_from(v)
                    .map_err(|_| {
                        E::custom(format_args!("invalid value: {v} is not between 0 and 1"))
                    })
                    .and_then(|v| self.visit_u64(v))
            }
        }
        d.deserialize_any(RV)
    }
}

/// Reads any scalar as its text (deserialize_str hands over the digits as written, so `500.50`
/// never becomes a float) and validates it inside the visitor, where serde_norway attaches the
/// scalar's own line and column to the error. Sequences and mappings are type errors.
fn parse_scalar<'de, D, T, F>(d: D, expecting: &'static str, parse: F) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(&str) -> Result<T, String>,
{
    d.deserialize_str(ScalarVisitor {
        expecting,
        parse,
        out: PhantomData,
    })
}

struct ScalarVisitor<T, F> {
    expecting: &'static str,
    parse: F,
    out: PhantomData<T>,
}

impl<T, F: FnOnce(&str) -> Result<T, String>> ScalarVisitor<T, F> {
    fn run<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.parse)(text).map_err(E::custom)
    }
}

impl<T, F: FnOnce(&str) -> Result<T, String>> Visitor<'_> for ScalarVisitor<T, F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        self.run(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.run(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.run(&v.to_string())
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<T, E> {
        self.run(&v.to_string())
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<T, E> {
        self.run(&v.to_string())
    }
}

/// A pass over any YAML document that refuses a key repeated in one mapping. It exists because
/// serde reports a struct's duplicate field at the start of the mapping; checking each key as it
/// is read puts the error on the repeated key's own line.
#[derive(Debug)]
pub(super) struct NoDuplicateKeys;

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DupVisitor)
    }
}

struct DupVisitor;

impl<'de> Visitor<'de> for DupVisitor {
    type Value = NoDuplicateKeys;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i128<E>(self, _: i128) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u128<E>(self, _: u128) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        NoDuplicateKeys::deserialize(d)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen: Vec<String> = Vec::new();
        while map.next_key_seed(KeySeed(&mut seen))?.is_some() {
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        // A tagged value (`!tag x`): its content is checked like any other.
        let (_, variant) = data.variant::<de::IgnoredAny>()?;
        de::VariantAccess::newtype_variant::<NoDuplicateKeys>(variant)
    }
}

struct KeySeed<'a>(&'a mut Vec<String>);

impl<'de> de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // The check runs inside the visitor: errors raised there carry the key's location.
        d.deserialize_any(KeyVisitor(self.0))
    }
}

struct KeyVisitor<'a>(&'a mut Vec<String>);

impl KeyVisitor<'_> {
    fn record<E: de::Error>(self, key: String) -> Result<(), E> {
        if self.0.contains(&key) {
            return Err(E::custom(format_args!("{DUPLICATE}`{key}`")));
        }
        self.0.push(key);
        Ok(())
    }
}

impl Visitor<'_> for KeyVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.record(v.to_owned())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.record(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.record(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.record(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.record(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.record("null".to_owned())
    }
}
