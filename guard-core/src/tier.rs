//! ACL tiers: how much oversight an agent gets. A tier sets every default a blueprint omits.

use std::fmt;
use std::str::FromStr;

pub use guard_literals::TierError;

/// `ACL-0` (least oversight) to `ACL-5` (most). Ordered: a higher tier is stricter.
///
/// ```
/// use guard_core::AclTier;
/// let t: AclTier = "ACL-2".parse()?;
/// assert_eq!(t.level(), 2);
/// assert!(t < "ACL-3".parse()?);
/// assert!("ACL-9".parse::<AclTier>().is_err());
/// # Ok::<(), guard_core::TierError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclTier(u8);

impl AclTier {
    /// The numeric level, 0 to 5.
    pub const fn level(&self) -> u8 {
        self.0
    }

    /// Every tier, least oversight first.
    pub fn all() -> impl Iterator<Item = AclTier> {
        (0..guard_literals::TIER_COUNT).map(AclTier)
    }
}

impl FromStr for AclTier {
    type Err = TierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        guard_literals::parse_tier(s).map(AclTier)
    }
}

impl fmt::Display for AclTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ACL-{}", self.0)
    }
}

impl fmt::Debug for AclTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
