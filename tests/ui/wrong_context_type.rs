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

struct NotACtx;

#[guard]
fn refund(ctx: &NotACtx) -> Result<(), Denial> {
    Ok(())
}

fn main() {}
