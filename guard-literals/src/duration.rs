use std::time::Duration;
use thiserror::Error;

/// Why a duration literal was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DurationError {
    /// Not `<digits><unit>`.
    #[error("invalid duration {0:?}: expected a whole number and a unit (s, m, h, d, w), such as \"15m\" or \"7d\"")]
    Syntax(String),
    /// Zero is refused: a zero window or time-to-live silently disables the rule it belongs to.
    #[error("duration {0:?} is zero; a zero window would disable its rule")]
    Zero(String),
    /// Above ten years.
    #[error("duration {0:?} is too long (at most 3650d)")]
    TooLong(String),
}

const MAX_SECS: u64 = 3650 * 86_400;

/// Parses `"90s"`, `"15m"`, `"24h"`, `"7d"`, `"2w"`: one whole number and one unit. Compound forms
/// (`"1h30m"`) are refused; write `"90m"`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let syntax = || DurationError::Syntax(text.to_owned());
    let split = text
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map(|(i, _)| i)
        .ok_or_else(syntax)?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() || digits.len() > 12 {
        return Err(syntax());
    }
    let n: u64 = digits.parse().map_err(|_| syntax())?;
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(syntax()),
    };
    let secs = n
        .checked_mul(per)
        .ok_or_else(|| DurationError::TooLong(text.to_owned()))?;
    if secs == 0 {
        return Err(DurationError::Zero(text.to_owned()));
    }
    if secs > MAX_SECS {
        return Err(DurationError::TooLong(text.to_owned()));
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let ok = [
            ("90s", 90),
            ("15m", 900),
            ("24h", 86_400),
            ("7d", 604_800),
            ("2w", 1_209_600),
        ];
        for (text, secs) in ok {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_secs(secs),
                "{text}"
            );
        }
        for text in [
            "",
            "7",
            "d",
            "7 d",
            "1h30m",
            "-1h",
            "7D",
            "1.5h",
            "99999999999999d",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?}");
        }
        assert!(matches!(parse_duration("0h"), Err(DurationError::Zero(_))));
        assert!(matches!(
            parse_duration("3651d"),
            Err(DurationError::TooLong(_))
        ));
    }
}
