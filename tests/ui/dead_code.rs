#![deny(dead_code)]

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

#[guard]
fn never_called(ctx: &Ctx) -> Result<(), Denial> {
    Ok(())
}

fn main() {
    let _ = Ctx { guard: Guard::builder().build().unwrap(), session: Session::guest("s") };
}
