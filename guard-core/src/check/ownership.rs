//! Who owns an order, address or payment method: answered by the application's database.

use std::collections::HashMap;

use thiserror::Error;

/// The owner lookup failed (database down, timeout). The check BLOCKs: an unverifiable object
/// is never assumed to be the customer's.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("ownership lookup failed: {0}")]
pub struct OwnershipError(pub String);

/// Resolves the owning customer of an object named in a tool call (`owned_params`).
///
/// Deployments implement it against their own database. `Ok(None)` means the object is not
/// known: the call BLOCKs.
///
/// ```
/// use guard_core::{MemoryOwnership, Ownership};
/// let mut owners = MemoryOwnership::new();
/// owners.insert("order", "88231", "C-2002");
/// assert_eq!(owners.owner_of("order", "88231").unwrap().as_deref(), Some("C-2002"));
/// assert_eq!(owners.owner_of("order", "1").unwrap(), None);
/// ```
pub trait Ownership: Send + Sync {
    /// The customer id owning object `id` of kind `kind` (`order`, `address`, ...).
    fn owner_of(&self, kind: &str, id: &str) -> Result<Option<String>, OwnershipError>;
}

/// An in-memory ownership table: for tests, examples and `guard check --owners`.
#[derive(Debug, Clone, Default)]
pub struct MemoryOwnership {
    owners: HashMap<(String, String), String>,
}

impl MemoryOwnership {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `customer_id` owns object `id` of `kind`.
    pub fn insert(
        &mut self,
        kind: impl Into<String>,
        id: impl Into<String>,
        customer_id: impl Into<String>,
    ) {
        self.owners
            .insert((kind.into(), id.into()), customer_id.into());
    }

    /// Number of objects known.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// True when no object is known.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }
}

impl Ownership for MemoryOwnership {
    fn owner_of(&self, kind: &str, id: &str) -> Result<Option<String>, OwnershipError> {
        Ok(self.owners.get(&(kind.to_owned(), id.to_owned())).cloned())
    }
}

/// Used when the application configured none: every lookup fails, so tools with
/// `owned_params` BLOCK instead of running unchecked.
#[derive(Debug)]
pub(crate) struct NoOwnership;

impl Ownership for NoOwnership {
    fn owner_of(&self, _kind: &str, _id: &str) -> Result<Option<String>, OwnershipError> {
        Err(OwnershipError("no ownership resolver is configured".into()))
    }
}
