use thiserror::Error;

/// Number of ACL tiers: `ACL-0` to `ACL-5`.
pub const TIER_COUNT: u8 = 6;

/// Why a tier literal was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown ACL tier {0:?}: expected one of ACL-0, ACL-1, ACL-2, ACL-3, ACL-4, ACL-5")]
pub struct TierError(pub String);

/// Parses `"ACL-0"` .. `"ACL-5"` exactly (no case folding: a tier is an identifier, not prose).
pub fn parse_tier(text: &str) -> Result<u8, TierError> {
    let err = || TierError(text.to_owned());
    let digit = text.strip_prefix("ACL-").ok_or_else(err)?;
    match digit.as_bytes() {
        [d @ b'0'..=b'9'] if d - b'0' < TIER_COUNT => Ok(d - b'0'),
        _ => Err(err()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for n in 0..TIER_COUNT {
            assert_eq!(parse_tier(&format!("ACL-{n}")).unwrap(), n);
        }
        for text in [
            "ACL-6", "ACL-9", "acl-2", "ACL2", "ACL-", "ACL-22", " ACL-2", "ACL-2 ", "2",
        ] {
            assert!(parse_tier(text).is_err(), "{text:?}");
        }
    }
}
