use guard_core::{guard, Denial, Guard, GuardContext, Session};

struct Ctx {
    guard: Guard,
    session: Session,
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

struct Receipt {
    total: u32,
}

#[guard]
fn refund(ctx: &Ctx, receipt: &Receipt) -> Result<u32, Denial> {
    Ok(receipt.total)
}

fn main() {}
