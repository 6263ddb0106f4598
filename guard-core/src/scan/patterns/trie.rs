//! The ASCII phrases as a byte trie for the anchored walks of the phrase pass.
//!
//! A walk starts at a word start and ends within a few bytes, so its cost is a chain of
//! dependent table reads. The Aho-Corasick DFA it replaced spends 256 bytes a state (a
//! power-of-two stride of four-byte ids) with states in no useful order: 4.6 MB. Here a state
//! is a row of two-byte ids (2.2 MB), the shallow states every walk passes through are numbered
//! first (breadth first) and each deeper subtree depth first (a long walk reads neighbouring
//! rows), the byte classes most phrases use come first in a row (the letters' columns sit
//! together), and the phrase a state spells is one read beside the step, not a search of the
//! state's match list.

/// The state no phrase continues from.
pub(super) const DEAD: u16 = 0;
/// The empty prefix.
pub(super) const ROOT: u16 = 1;
/// The flag of a step's result that says the state spells a phrase.
pub(super) const SPELLS: u16 = 1 << 15;

/// Depth above which states are numbered breadth first.
const BFS_DEPTH: usize = 3;

pub(super) struct Trie {
    /// Byte → class; 0 for bytes in no phrase (every transition on them is dead).
    class: [u8; 256],
    /// log2 of a row's length.
    shift: u32,
    /// Row `state`, column `class`: the next state, with [`SPELLS`] set when it spells a
    /// phrase (the common case, none, is then known without a second read).
    next: Box<[u16]>,
    /// Per state: 1 + the id of the phrase it spells, or 0.
    phrase: Box<[u32]>,
}

impl Trie {
    /// The trie of `phrases` (id, bytes). Fails when the states do not fit two-byte ids.
    pub(super) fn new<'a>(phrases: impl Iterator<Item = (u32, &'a [u8])>) -> Result<Self, String> {
        // Insertion trie: children as (byte, node), node 0 the root.
        let mut children: Vec<Vec<(u8, usize)>> = vec![Vec::new()];
        let mut spelled: Vec<u32> = vec![0];
        let mut freq = [0u64; 256];
        for (id, bytes) in phrases {
            let mut node = 0usize;
            for &b in bytes {
                if let Some(f) = freq.get_mut(usize::from(b)) {
                    *f += 1;
                }
                let found = children
                    .get(node)
                    .and_then(|cs| cs.iter().find(|(c, _)| *c == b))
                    .map(|&(_, n)| n);
                node = match found {
                    Some(n) => n,
                    None => {
                        let n = children.len();
                        children.push(Vec::new());
                        spelled.push(0);
                        if let Some(cs) = children.get_mut(node) {
                            cs.push((b, n));
                        }
                        n
                    }
                };
            }
            if let Some(s) = spelled.get_mut(node) {
                *s = id.checked_add(1).ok_or("phrase id overflows")?;
            }
        }
        // Classes by how often phrases use the byte: letters and the space first.
        let mut used: Vec<u8> = (0..=255u8)
            .filter(|&b| freq.get(usize::from(b)).is_some_and(|&f| f > 0))
            .collect();
        used.sort_by_key(|&b| (std::cmp::Reverse(freq.get(usize::from(b)).copied()), b));
        let mut class = [0u8; 256];
        for (i, &b) in used.iter().enumerate() {
            let c = u8::try_from(i + 1).map_err(|_| "more than 255 byte classes")?;
            if let Some(slot) = class.get_mut(usize::from(b)) {
                *slot = c;
            }
        }
        let width = (used.len() + 1).next_power_of_two();
        let shift = width.trailing_zeros();
        // DEAD, then one state per node.
        let states = children.len() + 1;
        if states > usize::from(SPELLS) {
            return Err(format!("{states} trie states do not fit 15-bit ids"));
        }
        // Breadth first down to BFS_DEPTH (the shallow states every walk passes through sit
        // together), then each subtree below depth first (a long walk along one phrase reads
        // neighbouring rows): 1-3 % faster 1 KiB scans than breadth first all the way down.
        let sorted = |node: usize| {
            let mut cs = children.get(node).cloned().unwrap_or_default();
            cs.sort_by_key(|&(b, _)| class.get(usize::from(b)).copied());
            cs
        };
        let mut order = Vec::with_capacity(children.len());
        let mut level = vec![0usize];
        for _ in 0..BFS_DEPTH {
            let mut below = Vec::new();
            for &node in &level {
                order.push(node);
                below.extend(sorted(node).iter().map(|&(_, n)| n));
            }
            level = below;
        }
        for top in level {
            let mut stack = vec![top];
            while let Some(node) = stack.pop() {
                order.push(node);
                stack.extend(sorted(node).iter().rev().map(|&(_, n)| n));
            }
        }
        let mut number = vec![0u16; children.len()];
        for (k, &node) in order.iter().enumerate() {
            if let Some(n) = number.get_mut(node) {
                *n = u16::try_from(k + 1).map_err(|_| "trie state out of range")?;
            }
        }
        let mut next = vec![DEAD; states << shift].into_boxed_slice();
        let mut phrase = vec![0u32; states].into_boxed_slice();
        for (node, cs) in children.iter().enumerate() {
            let from = usize::from(number.get(node).copied().unwrap_or(DEAD));
            if let (Some(p), Some(&s)) = (phrase.get_mut(from), spelled.get(node)) {
                *p = s;
            }
            for &(b, child) in cs {
                let c = usize::from(class.get(usize::from(b)).copied().unwrap_or(0));
                let spells = spelled.get(child).is_some_and(|&p| p != 0);
                if let (Some(slot), Some(&to)) =
                    (next.get_mut((from << shift) | c), number.get(child))
                {
                    *slot = if spells { to | SPELLS } else { to };
                }
            }
        }
        Ok(Self {
            class,
            shift,
            next,
            phrase,
        })
    }

    /// The state after `b` from `state` (a step's result, flag and all), with [`SPELLS`] set
    /// when it spells a phrase.
    #[inline(always)]
    pub(super) fn step(&self, state: u16, b: u8) -> u16 {
        let c = usize::from(self.class.get(usize::from(b)).copied().unwrap_or(0));
        self.next
            .get((usize::from(state & !SPELLS) << self.shift) | c)
            .copied()
            .unwrap_or(DEAD)
    }

    /// The id of the phrase `state` (a step's result) spells, if it spells one.
    #[inline(always)]
    pub(super) fn phrase(&self, state: u16) -> Option<usize> {
        if state & SPELLS == 0 {
            return None;
        }
        let state = state & !SPELLS;
        match self.phrase.get(usize::from(state)).copied().unwrap_or(0) {
            0 => None,
            p => Some(p as usize - 1),
        }
    }

    pub(super) fn memory_usage(&self) -> usize {
        self.next.len() * 2 + self.phrase.len() * 4 + 256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(t: &Trie, s: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut st = ROOT;
        for (k, &b) in s.as_bytes().iter().enumerate() {
            st = t.step(st, b);
            if st == DEAD {
                break;
            }
            if let Some(id) = t.phrase(st) {
                out.push((id, k + 1));
            }
        }
        out
    }

    #[test]
    fn walks_spell_exactly_the_phrases() {
        let phrases = ["ignore", "ignore all", "ig", "[system]", "all", "a"];
        let t = Trie::new(
            phrases
                .iter()
                .enumerate()
                .map(|(i, p)| (i as u32, p.as_bytes())),
        )
        .unwrap();
        assert_eq!(walk(&t, "ignore all of it"), vec![(2, 2), (0, 6), (1, 10)]);
        assert_eq!(walk(&t, "[system]x"), vec![(3, 8)]);
        assert_eq!(walk(&t, "all"), vec![(5, 1), (4, 3)]);
        assert_eq!(walk(&t, "ignorance"), vec![(2, 2)]);
        assert!(walk(&t, "system").is_empty());
        assert!(walk(&t, "").is_empty());
        // Bytes in no phrase, including those outside ASCII, end a walk.
        assert!(walk(&t, "\u{e9}ignore").is_empty());
        assert_eq!(t.step(ROOT, 0xff), DEAD);
        assert_eq!(t.step(DEAD, b'i'), DEAD);
    }

    #[test]
    fn too_many_states_is_an_error() {
        // 300 phrases that part after four bytes, 250 bytes each: 75,000 states.
        let long: Vec<Vec<u8>> = (0..300u32)
            .map(|i| format!("{i:04}{}", "a".repeat(246)).into_bytes())
            .collect();
        let r = Trie::new(
            long.iter()
                .enumerate()
                .map(|(i, p)| (i as u32, p.as_slice())),
        );
        assert!(r.is_err());
    }
}
