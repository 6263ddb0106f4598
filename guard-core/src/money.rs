//! Money as integer minor units with a currency. No floats anywhere on this path.

use std::fmt;
use std::str::FromStr;

use guard_literals::{parse_decimal, DecimalError};
use thiserror::Error;

/// An ISO 4217 currency this library knows the minor-unit exponent of.
///
/// Unknown codes are refused rather than assumed to have two decimals: a wrong exponent would
/// scale every limit by a power of ten.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    decimals: u8,
}

/// Codes and their minor-unit exponents (ISO 4217).
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PHP", 2),
    ("PLN", 2),
    ("RON", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// Why a currency or amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// Not a known ISO 4217 code.
    #[error("unknown currency {0:?}: expected an ISO 4217 code such as \"USD\" or \"EUR\"")]
    UnknownCurrency(String),
    /// The decimal text is malformed, too precise or too large.
    #[error(transparent)]
    Decimal(#[from] DecimalError),
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    /// A sum or product left the integer range.
    #[error("amount overflow")]
    Overflow,
}

impl Currency {
    /// Looks up an ISO 4217 code (exact, upper case).
    pub fn from_code(code: &str) -> Result<Self, MoneyError> {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .and_then(|(c, decimals)| {
                let bytes: [u8; 3] = c.as_bytes().try_into().ok()?;
                Some(Self {
                    code: bytes,
                    decimals: *decimals,
                })
            })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // Codes come only from the ASCII table above.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Digits after the decimal point in this currency (2 for USD, 0 for JPY, 3 for KWD).
    pub fn decimals(&self) -> u32 {
        u32::from(self.decimals)
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_code(s)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount of money: integer minor units (cents) and a currency.
///
/// ```
/// use guard_core::{Currency, Money};
/// let usd = Currency::from_code("USD")?;
/// let a = Money::parse("500.00", usd)?;
/// assert_eq!(a, Money::parse("500", usd)?);
/// assert_eq!(a.minor_units(), 50_000);
/// assert!(Money::parse("500.001", usd).is_err());
/// # Ok::<(), guard_core::MoneyError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// From minor units (cents for USD).
    pub const fn from_minor(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Parses a decimal in major units with at most the currency's decimals: `"500"`,
    /// `"500.00"`; never through a float.
    pub fn parse(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let minor = parse_decimal(text)?.to_minor(currency.decimals(), text)?;
        Ok(Self { minor, currency })
    }

    /// The amount in minor units.
    pub const fn minor_units(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Sum, refusing mixed currencies and overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self {
            minor,
            currency: self.currency,
        })
    }

    /// True when `self` is above `ratio` (in basis points) of `limit`, computed in integers.
    pub(crate) fn above_ratio_of(self, limit: Money, ratio: Ratio) -> bool {
        let lhs = i128::from(self.minor) * 10_000;
        let rhs = i128::from(limit.minor) * i128::from(ratio.basis_points());
        lhs > rhs
    }
}

impl Money {
    /// The amount in major units as plain decimal text with the currency's decimals
    /// (`"500.00"` for USD, `"500"` for JPY): the form amounts are written in.
    pub fn major_units_text(&self) -> String {
        let mut out = String::with_capacity(24);
        let _ = self.write_major(&mut out);
        out
    }

    fn write_major(&self, f: &mut impl fmt::Write) -> fmt::Result {
        let d = self.currency.decimals();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if d == 0 {
            return write!(f, "{sign}{abs}");
        }
        let scale = 10u64.pow(d);
        write!(
            f,
            "{sign}{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = d as usize
        )
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_major(f)?;
        write!(f, " {}", self.currency)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A ratio in `[0, 1]` kept as basis points, so limits compare in integers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ratio(u16);

impl Ratio {
    /// From basis points (`8000` is 0.8); `None` above 10 000.
    pub const fn from_basis_points(bp: u16) -> Option<Self> {
        if bp <= 10_000 {
            Some(Self(bp))
        } else {
            None
        }
    }

    /// From a fraction in `[0, 1]`, rounded to the nearest basis point; `None` outside the range
    /// or for NaN.
    pub fn from_fraction(x: f64) -> Option<Self> {
        if (0.0..=1.0).contains(&x) {
            // In range, so the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(Self((x * 10_000.0).round() as u16))
        } else {
            None
        }
    }

    /// Basis points.
    pub const fn basis_points(&self) -> u16 {
        self.0
    }

    /// As a fraction.
    pub fn as_f64(&self) -> f64 {
        f64::from(self.0) / 10_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::from_code("USD").unwrap()
    }

    #[test]
    fn currencies() {
        assert_eq!(Currency::from_code("JPY").unwrap().decimals(), 0);
        assert_eq!(Currency::from_code("KWD").unwrap().decimals(), 3);
        for bad in ["usd", "US", "XYZ", "", "USDX"] {
            assert!(Currency::from_code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parsing_respects_the_currency_exponent() {
        let jpy = Currency::from_code("JPY").unwrap();
        assert_eq!(Money::parse("500", jpy).unwrap().minor_units(), 500);
        assert!(Money::parse("500.5", jpy).is_err());
        assert_eq!(Money::parse("12.5", usd()).unwrap().minor_units(), 1250);
    }

    #[test]
    fn arithmetic_is_checked() {
        let max = Money::from_minor(i64::MAX, usd());
        assert_eq!(
            max.checked_add(Money::from_minor(1, usd())),
            Err(MoneyError::Overflow)
        );
        let eur = Money::from_minor(1, Currency::from_code("EUR").unwrap());
        assert!(matches!(
            max.checked_add(eur),
            Err(MoneyError::CurrencyMismatch(..))
        ));
    }

    #[test]
    fn display() {
        assert_eq!(Money::from_minor(50_005, usd()).to_string(), "500.05 USD");
        assert_eq!(Money::from_minor(-5, usd()).to_string(), "-0.05 USD");
    }

    #[test]
    fn ratio_comparison_is_integer() {
        let limit = Money::parse("750", usd()).unwrap();
        let r = Ratio::from_fraction(0.8).unwrap();
        assert!(!Money::parse("600", usd()).unwrap().above_ratio_of(limit, r));
        assert!(Money::parse("600.01", usd())
            .unwrap()
            .above_ratio_of(limit, r));
        assert!(Ratio::from_fraction(1.01).is_none());
        assert!(Ratio::from_fraction(f64::NAN).is_none());
    }
}
