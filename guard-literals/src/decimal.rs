use thiserror::Error;

/// A non-negative decimal read from text without ever going through a float.
///
/// `units` is the value scaled by `10^scale`: `"12.50"` is `units = 1250, scale = 2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    /// The digits as one integer.
    pub units: u128,
    /// How many of those digits were after the point.
    pub scale: u32,
}

/// Why a decimal literal was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecimalError {
    /// Nothing, or only white space, was given.
    #[error("empty amount")]
    Empty,
    /// A character other than ASCII digits and one point.
    #[error("invalid amount {0:?}: expected digits with an optional decimal point, such as \"500\" or \"12.50\"")]
    Syntax(String),
    /// More digits after the point than the currency allows.
    #[error("amount {text:?} has {found} decimal places; at most {allowed} are allowed")]
    TooPrecise {
        /// The literal as given.
        text: String,
        /// Decimal places found.
        found: u32,
        /// Decimal places allowed.
        allowed: u32,
    },
    /// The value does not fit the integer range.
    #[error("amount {0:?} is too large")]
    Overflow(String),
}

/// Longest literal accepted: far above any real amount, small enough that parsing is trivially
/// bounded.
const MAX_LEN: usize = 40;

/// Parses `"500"`, `"500.00"` or `"12.5"`. No sign, no exponent, no grouping, no surrounding
/// white space: an amount that is not plainly written is refused rather than guessed at.
pub fn parse_decimal(text: &str) -> Result<Decimal, DecimalError> {
    if text.is_empty() {
        return Err(DecimalError::Empty);
    }
    if text.len() > MAX_LEN {
        return Err(DecimalError::Overflow(text.to_owned()));
    }
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
        return Err(DecimalError::Syntax(text.to_owned()));
    }
    let mut units: u128 = 0;
    let digits = int_part.bytes().chain(frac_part.unwrap_or("").bytes());
    for b in digits {
        units = units
            .checked_mul(10)
            .and_then(|u| u.checked_add(u128::from(b - b'0')))
            .ok_or_else(|| DecimalError::Overflow(text.to_owned()))?;
    }
    let scale = u32::try_from(frac_part.map_or(0, str::len))
        .map_err(|_| DecimalError::Overflow(text.to_owned()))?;
    Ok(Decimal { units, scale })
}

impl Decimal {
    /// The value in units of `10^-decimals`, refusing more precision than `decimals` and any
    /// result above `i64::MAX`. `"500.001"` with two decimals is an error, not a rounding.
    pub fn to_minor(self, decimals: u32, text: &str) -> Result<i64, DecimalError> {
        if self.scale > decimals {
            // Trailing zeros carry no value: "500.000" is 500.00, but refuse it anyway when it
            // has more places than the currency, so the rule is simple to state.
            return Err(DecimalError::TooPrecise {
                text: text.to_owned(),
                found: self.scale,
                allowed: decimals,
            });
        }
        let factor = 10u128
            .checked_pow(decimals - self.scale)
            .ok_or_else(|| DecimalError::Overflow(text.to_owned()))?;
        let minor = self
            .units
            .checked_mul(factor)
            .ok_or_else(|| DecimalError::Overflow(text.to_owned()))?;
        i64::try_from(minor).map_err(|_| DecimalError::Overflow(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_plain_amounts() {
        let cases = [
            ("500", 50_000),
            ("500.00", 50_000),
            ("500.5", 50_050),
            ("0.01", 1),
            ("007", 700),
        ];
        for (text, minor) in cases {
            let d = parse_decimal(text).unwrap();
            assert_eq!(d.to_minor(2, text).unwrap(), minor, "{text}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for text in [
            "", " 5", "5 ", "-5", "+5", "5.", ".5", "1e3", "5,00", "1_000", "0x10", "½", "5..0",
            "NaN", "inf",
        ] {
            assert!(parse_decimal(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn too_many_places_is_an_error_not_a_rounding() {
        let d = parse_decimal("500.001").unwrap();
        assert!(matches!(
            d.to_minor(2, "500.001"),
            Err(DecimalError::TooPrecise {
                found: 3,
                allowed: 2,
                ..
            })
        ));
        assert_eq!(d.to_minor(3, "500.001").unwrap(), 500_001);
    }

    #[test]
    fn overflow_is_an_error() {
        let big = "9".repeat(39);
        assert!(matches!(
            parse_decimal(&big).and_then(|d| d.to_minor(2, &big)),
            Err(DecimalError::Overflow(_))
        ));
        assert!(matches!(
            parse_decimal(&"9".repeat(41)),
            Err(DecimalError::Overflow(_))
        ));
        let edge = "92233720368547758.07";
        assert_eq!(
            parse_decimal(edge).unwrap().to_minor(2, edge).unwrap(),
            i64::MAX
        );
        let over = "92233720368547758.08";
        assert!(parse_decimal(over).unwrap().to_minor(2, over).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,60}") {
            let _ = parse_decimal(&s).and_then(|d| d.to_minor(2, &s));
        }

        #[test]
        fn round_trips_minor_units(minor in 0i64..=i64::MAX) {
            let text = format!("{}.{:02}", minor / 100, minor % 100);
            prop_assert_eq!(parse_decimal(&text).unwrap().to_minor(2, &text).unwrap(), minor);
        }
    }
}
