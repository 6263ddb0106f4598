//! The money, duration and tier parsers (guard-literals and the `Money` type over them).

use guard_core::{AclTier, Currency, Money, Ratio};
use guard_literals::{parse_decimal, parse_duration, parse_tier, TIER_COUNT};

use crate::{ensure, Check};

/// Currencies with 0, 2 and 3 decimals.
const CURRENCIES: &[&str] = &["JPY", "USD", "KWD"];

/// Arbitrary bytes as a literal: whatever a parser accepts must be plainly written and survive
/// a round trip; whatever it refuses must be refused with an error, never a panic.
pub fn literals(data: &[u8]) -> Check {
    if let Some(bits) = data.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
        let x = f64::from_bits(u64::from_le_bytes(bits));
        if let Some(r) = Ratio::from_fraction(x) {
            ensure(
                r.basis_points() <= 10_000 && (0.0..=1.0).contains(&x),
                || {
                    format!(
                        "Ratio::from_fraction({x}) gave {} basis points",
                        r.basis_points()
                    )
                },
            )?;
        }
    }
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    decimal(text)?;
    duration(text)?;
    tier(text)?;
    if let Ok(c) = Currency::from_code(text) {
        ensure(c.code() == text, || {
            format!("currency {text:?} reads back as {c}")
        })?;
    }
    Ok(())
}

fn plainly_written(text: &str) -> bool {
    let mut parts = text.split('.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    parts.next().is_none() && digits(int) && frac.is_none_or(digits) && text.len() <= 40
}

fn decimal(text: &str) -> Check {
    let Ok(d) = parse_decimal(text) else {
        return Ok(());
    };
    ensure(plainly_written(text), || {
        format!("parse_decimal accepted {text:?}")
    })?;
    for decimals in 0..=3u32 {
        if let Ok(minor) = d.to_minor(decimals, text) {
            ensure(minor >= 0 && d.scale <= decimals, || {
                format!("{text:?} with {decimals} decimals gave {minor}")
            })?;
            let expected = 10u128
                .checked_pow(decimals - d.scale)
                .and_then(|f| d.units.checked_mul(f));
            ensure(expected == Some(minor.unsigned_abs().into()), || {
                format!("{text:?} with {decimals} decimals gave {minor}, expected {expected:?}")
            })?;
        }
    }
    for code in CURRENCIES {
        let c = Currency::from_code(code).map_err(|e| e.to_string())?;
        if let Ok(m) = Money::parse(text, c) {
            ensure(m.minor_units() >= 0 && m.currency() == c, || {
                format!("{text:?} in {code} parsed as {m}")
            })?;
            let back = Money::parse(&m.major_units_text(), c);
            ensure(back.as_ref() == Ok(&m), || {
                format!("{text:?} in {code}: {m} reads back as {back:?}")
            })?;
            let _ = m.checked_add(m);
            let _ = m.to_string();
        }
    }
    Ok(())
}

fn duration(text: &str) -> Check {
    let Ok(d) = parse_duration(text) else {
        return Ok(());
    };
    ensure(
        d.as_secs() >= 1 && d.as_secs() <= 3650 * 86_400 && d.subsec_nanos() == 0,
        || format!("parse_duration({text:?}) gave {d:?}"),
    )?;
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    ensure(
        !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && ["s", "m", "h", "d", "w"].contains(&unit),
        || format!("parse_duration accepted {text:?}"),
    )?;
    let secs = format!("{}s", d.as_secs());
    ensure(parse_duration(&secs) == Ok(d), || {
        format!("{text:?} = {d:?} but {secs:?} does not read back")
    })
}

fn tier(text: &str) -> Check {
    let parsed = parse_tier(text);
    let typed = text.parse::<AclTier>();
    ensure(parsed.is_ok() == typed.is_ok(), || {
        format!("parse_tier and AclTier disagree on {text:?}")
    })?;
    if let (Ok(n), Ok(t)) = (parsed, typed) {
        ensure(
            n < TIER_COUNT && t.level() == n && t.to_string() == text,
            || format!("tier {text:?} read as {n} / {t}"),
        )?;
    }
    Ok(())
}
