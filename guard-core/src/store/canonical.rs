//! Canonical arguments: the text an approval token is bound to. Two calls that mean the same
//! thing (`500` and `500.00`, keys in another order) give the same text; calls that differ in
//! anything else do not.

use std::fmt::Write as _;

use crate::check::Value;
use crate::money::{Currency, Money, MoneyError};

use super::StoreError;

/// Deeper trees are cut here (the check already BLOCKs beyond 64 levels); the marker keeps the
/// output deterministic.
const MAX_DEPTH: usize = 256;

/// Normalised JSON of a parameter tree: object keys sorted (by bytes), numbers in their shortest
/// exact decimal form (`500`, `500.0` and `5e2` are all `500`), strings JSON-escaped, no spaces.
///
/// Strings are never reinterpreted: `"007"` stays distinct from `"7"`, since an order number is
/// text. Use [`canonical_args_with_money`] to normalise the amount of a money call.
///
/// ```
/// use guard_core::store::canonical_args;
/// use serde_json::json;
/// let a = canonical_args(&json!({"b": 1.50, "a": ["x", 2]}).into());
/// let b = canonical_args(&json!({"a": ["x", 2.0], "b": 1.5}).into());
/// assert_eq!(a, b);
/// assert_eq!(a, r#"{"a":["x",2],"b":1.5}"#);
/// ```
pub fn canonical_args(params: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, params, 0);
    out
}

/// [`canonical_args`] with the money parameter `amount_param` (top level) replaced by its
/// integer minor units and currency, so `500`, `"500.00"` and `{"amount": "500", "currency":
/// "USD"}` bind the same token. An unreadable amount, or one in another currency, is an error.
///
/// ```
/// use guard_core::Currency;
/// use guard_core::store::canonical_args_with_money;
/// use serde_json::json;
/// let usd = Currency::from_code("USD")?;
/// let a = canonical_args_with_money(&json!({"amount": 500, "order_id": "A-1"}).into(), "amount", usd)?;
/// let b = canonical_args_with_money(&json!({"order_id": "A-1", "amount": "500.00"}).into(), "amount", usd)?;
/// assert_eq!(a, b);
/// assert_eq!(a, r#"{"amount":{"currency":"USD","minor":50000},"order_id":"A-1"}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn canonical_args_with_money(
    params: &Value,
    amount_param: &str,
    currency: Currency,
) -> Result<String, StoreError> {
    let Value::Object(entries) = params else {
        return Ok(canonical_args(params));
    };
    let mut replaced = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        if k == amount_param && *v != Value::Null {
            let money = read_money(v, currency)?;
            replaced.push((
                k.clone(),
                Value::Object(vec![
                    (
                        "currency".to_owned(),
                        Value::String(money.currency().code().to_owned()),
                    ),
                    (
                        "minor".to_owned(),
                        Value::Number(money.minor_units().to_string()),
                    ),
                ]),
            ));
        } else {
            replaced.push((k.clone(), v.clone()));
        }
    }
    Ok(canonical_args(&Value::Object(replaced)))
}

fn read_money(v: &Value, currency: Currency) -> Result<Money, StoreError> {
    let text = match v {
        Value::Number(t) | Value::String(t) => t.as_str(),
        Value::Object(_) => {
            if let Some(c) = v.get("currency") {
                let named = c.as_text().unwrap_or("");
                if named != currency.code() {
                    let err = match Currency::from_code(named) {
                        Ok(other) => MoneyError::CurrencyMismatch(other, currency),
                        Err(e) => e,
                    };
                    return Err(err.into());
                }
            }
            v.get("amount")
                .or_else(|| v.get("value"))
                .and_then(Value::as_text)
                .ok_or(StoreError::Internal("amount object without amount"))?
        }
        _ => return Err(StoreError::Internal("amount is not a number")),
    };
    Ok(Money::parse(text, currency)?)
}

fn write_value(out: &mut String, v: &Value, depth: usize) {
    if depth > MAX_DEPTH {
        out.push_str("\"$too_deep\"");
        return;
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match normalize_number(n) {
            Some(n) => out.push_str(&n),
            // Not a JSON number: kept apart from any string with the same text.
            None => {
                out.push_str("{\"$number\":");
                write_string(out, n);
                out.push('}');
            }
        },
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, depth + 1);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            let mut sorted: Vec<&(String, Value)> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, v, depth + 1);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Shortest exact decimal form of a JSON number's text; `None` when it is not one. Huge
/// exponents stay in exponent form so the output stays small.
fn normalize_number(text: &str) -> Option<String> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (rest.get(..i)?, Some(rest.get(i + 1..)?)),
        None => (rest, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if mantissa.contains('.') && frac.is_empty() {
        return None;
    }
    let mut exp10: i64 = if let Some(exp) = exp {
        let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let magnitude: i64 = digits.parse().ok()?;
        if exp.starts_with('-') {
            -magnitude
        } else {
            magnitude
        }
    } else {
        0
    };
    let mut digits: String = int.chars().chain(frac.chars()).collect();
    exp10 = exp10.checked_sub(i64::try_from(frac.len()).ok()?)?;
    let trimmed = digits.trim_start_matches('0');
    digits = trimmed.to_owned();
    if digits.is_empty() {
        return Some("0".to_owned());
    }
    while digits.ends_with('0') {
        digits.pop();
        exp10 = exp10.checked_add(1)?;
    }
    let sign = if negative { "-" } else { "" };
    let len = i64::try_from(digits.len()).ok()?;
    const SPREAD: i64 = 40;
    let body = if (0..=SPREAD).contains(&exp10) {
        let zeros = usize::try_from(exp10).ok()?;
        format!("{digits}{}", "0".repeat(zeros))
    } else if exp10 < 0 && -exp10 <= len + SPREAD {
        let point = -exp10;
        if point < len {
            let split = usize::try_from(len - point).ok()?;
            format!("{}.{}", digits.get(..split)?, digits.get(split..)?)
        } else {
            let zeros = usize::try_from(point - len).ok()?;
            format!("0.{}{digits}", "0".repeat(zeros))
        }
    } else {
        format!("{digits}e{exp10}")
    };
    Some(format!("{sign}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_normalise() {
        for (a, b) in [
            ("500", "500"),
            ("500.00", "500"),
            ("5e2", "500"),
            ("5.0E+2", "500"),
            ("0.50", "0.5"),
            ("-0.0", "0"),
            ("0", "0"),
            ("007", "7"),
            ("1.25e-3", "0.00125"),
            ("-12.340", "-12.34"),
            ("1e999999", "1e999999"),
            ("1e-999999", "1e-999999"),
        ] {
            assert_eq!(normalize_number(a).as_deref(), Some(b), "{a}");
        }
        for bad in [
            "",
            "-",
            "1.",
            ".5",
            "1e",
            "abc",
            "1e+",
            "0x10",
            "1e99999999999999999999",
        ] {
            assert_eq!(normalize_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn keys_sorted_strings_kept() {
        let v: Value = json!({"z": "007", "a": {"y": null, "b": true}, "m": "line\n\"q\""}).into();
        assert_eq!(
            canonical_args(&v),
            r#"{"a":{"b":true,"y":null},"m":"line\n\"q\"","z":"007"}"#
        );
        let other: Value =
            json!({"z": "7", "a": {"y": null, "b": true}, "m": "line\n\"q\""}).into();
        assert_ne!(canonical_args(&v), canonical_args(&other));
        assert_ne!(
            canonical_args(&Value::Number("abc".into())),
            canonical_args(&Value::String("abc".into()))
        );
        assert_eq!(
            canonical_args(&Value::String("\u{1}".into())),
            "\"\\u0001\""
        );
    }

    #[test]
    fn money_is_minor_units() {
        let usd = Currency::from_code("USD").unwrap();
        let forms = [
            json!({"amount": 500}),
            json!({"amount": "500.00"}),
            json!({"amount": {"value": "500", "currency": "USD"}}),
        ];
        let texts: Vec<String> = forms
            .iter()
            .map(|f| canonical_args_with_money(&f.clone().into(), "amount", usd).unwrap())
            .collect();
        assert!(texts.windows(2).all(|w| w[0] == w[1]), "{texts:?}");
        assert_ne!(
            texts[0],
            canonical_args_with_money(&json!({"amount": 500.01}).into(), "amount", usd).unwrap()
        );
        assert!(
            canonical_args_with_money(&json!({"amount": "5.001"}).into(), "amount", usd).is_err()
        );
        assert!(canonical_args_with_money(
            &json!({"amount": {"amount": 5, "currency": "EUR"}}).into(),
            "amount",
            usd
        )
        .is_err());
        assert!(canonical_args_with_money(&json!({"amount": [1]}).into(), "amount", usd).is_err());
        // No amount: plain canonical form.
        assert_eq!(
            canonical_args_with_money(&json!({"x": 1}).into(), "amount", usd).unwrap(),
            r#"{"x":1}"#
        );
    }

    #[test]
    fn deep_trees_do_not_overflow_the_stack() {
        let mut v = Value::Null;
        for _ in 0..10_000 {
            v = Value::Array(vec![v]);
        }
        let s = canonical_args(&v);
        assert!(s.contains("$too_deep"));
        // Drop iteratively would be nicer, but 10k nested Vecs drop fine.
    }
}
