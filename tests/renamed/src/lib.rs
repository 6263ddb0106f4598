//! guard-core depended on as `my_guard` only.

use my_guard::{guard, Denial, Guard, GuardContext, Session, ToParam};

/// The context of the handlers below.
#[derive(Debug)]
pub struct Ctx {
    /// The guard.
    pub guard: Guard,
    /// The session.
    pub session: Session,
}

impl GuardContext for Ctx {
    fn guard(&self) -> &Guard {
        &self.guard
    }
    fn session(&self) -> &Session {
        &self.session
    }
    fn agent_id(&self) -> &str {
        "support-bot-prod"
    }
}

/// An id newtype deriving the trait through the renamed path.
#[derive(ToParam, Debug)]
#[to_param(crate = "my_guard")]
pub struct CustomerId(pub String);

/// A guarded handler through the renamed path.
#[guard(crate = "my_guard", tool = "export_account_data")]
pub fn export(ctx: &Ctx, customer_id: &CustomerId) -> Result<&'static str, Denial> {
    let _ = customer_id;
    Ok("exported")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamed_crate_checks_calls() {
        let ctx = Ctx {
            guard: Guard::builder().build().unwrap(),
            session: Session::authenticated("C-1", "s"),
        };
        assert_eq!(export(&ctx, &CustomerId("C-1".into())).unwrap(), "exported");
        let denied = export(&ctx, &CustomerId("C-2".into())).unwrap_err();
        assert!(denied.decision().has_reason("cross_customer"));
    }
}
