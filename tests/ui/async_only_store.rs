use guard_core::store::{Immediate, MemoryStore};
use guard_core::Guard;

fn main() {
    // An async-only store cannot back a Guard: the check never hides a block_on.
    let _ = Guard::builder().store(Immediate(MemoryStore::new())).build();
}
