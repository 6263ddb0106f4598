//! Hashed features of a message's canonical view: character 3–5-grams, word unigrams and
//! bigrams, and the nine shape features. Inference and training both walk the text through
//! [`for_each`], so they cannot disagree about what a feature is.
//!
//! Hashing is FNV-1a with a per-family seed, written out here: std's hasher is randomised per
//! process and would make a trained model meaningless in the next run.

use std::ops::Range;

/// Which recipe the features follow. A model records it; a change to this file that moves
/// features to other buckets must bump it, so an old model is refused instead of misread.
pub(crate) const RECIPE: u32 = 1;

/// Character n-gram lengths, in characters.
const MIN_GRAM: usize = 3;
const MAX_GRAM: usize = 5;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// Seeds keep the families apart: the word "ign" and the char 3-gram "ign" are different
/// features.
const SEED_CHAR: u64 = 0x63;
const SEED_WORD: u64 = 0x77;
const SEED_BIGRAM: u64 = 0x62;

fn fnv_raw(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET ^ seed, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    finish(fnv_raw(seed, bytes))
}

/// What kind of feature an occurrence is; used only to explain a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Char,
    Word,
    Bigram,
}

/// One feature occurrence: its hash and where it sits in the canonical text.
#[derive(Debug, Clone)]
pub(crate) struct Occurrence {
    pub hash: u64,
    pub family: Family,
    pub span: Range<usize>,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Calls `f` once per feature occurrence of `canonical`. Allocates nothing.
pub(crate) fn for_each(canonical: &str, mut f: impl FnMut(Occurrence)) {
    char_grams(canonical, &mut f);
    words(canonical, &mut f);
}

/// Hashes the 3-, 4- and 5-grams starting at the ring's oldest character (generic, not `dyn`,
/// so the per-occurrence call inlines).
fn emit_from_oldest<F: FnMut(Occurrence)>(ring: &[(u32, usize, usize)], f: &mut F) {
    let Some(&(_, from, _)) = ring.first() else {
        return;
    };
    let mut h = FNV_OFFSET ^ SEED_CHAR;
    for (n, &(cp, _, end)) in ring.iter().enumerate() {
        h = (h ^ u64::from(cp)).wrapping_mul(FNV_PRIME);
        if n + 1 >= MIN_GRAM {
            f(Occurrence {
                hash: finish(h),
                family: Family::Char,
                span: from..end.max(from),
            });
        }
    }
}

/// Finishes a hash: FNV's low bits mix poorly for short keys, and buckets are the low bits.
fn finish(h: u64) -> u64 {
    let h = (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

/// Character n-grams over the text with every run of non-word characters read as one space and
/// a space added at both ends, so word starts and ends are features of their own (" ignor").
///
/// A ring holds the last five characters; when it is full, the 3-, 4- and 5-grams starting at
/// its oldest character are hashed in one incremental pass (five mixing steps per character).
fn char_grams<F: FnMut(Occurrence)>(text: &str, f: &mut F) {
    let mut ring = [(0u32, 0usize, 0usize); MAX_GRAM]; // (code point, start, end) in `text`
    let mut len = 0usize;
    let mut push = |cp: u32, start: usize, end: usize, f: &mut F| {
        if len == MAX_GRAM {
            emit_from_oldest(&ring, f);
            ring.copy_within(1.., 0);
            len -= 1;
        }
        if let Some(slot) = ring.get_mut(len) {
            *slot = (cp, start, end);
        }
        len += 1;
    };
    let space = u32::from(b' ');
    // The virtual leading space maps to the first character: spans stay inside the text.
    push(space, 0, 0, f);
    let mut prev_space = true;
    for (i, ch) in text.char_indices() {
        if is_word_char(ch) {
            push(u32::from(ch), i, i + ch.len_utf8(), f);
            prev_space = false;
        } else if !prev_space {
            push(space, i, i, f);
            prev_space = true;
        }
    }
    if !prev_space {
        push(space, text.len(), text.len(), f);
    }
    // The last starts have fewer than five characters after them.
    let mut k = 0;
    while len.saturating_sub(k) >= MIN_GRAM {
        if let Some(rest) = ring.get(k..len) {
            emit_from_oldest(rest, f);
        }
        k += 1;
    }
}

fn words(text: &str, f: &mut impl FnMut(Occurrence)) {
    let mut prev: Option<Range<usize>> = None;
    let mut start: Option<usize> = None;
    let mut emit = |r: Range<usize>, prev: &mut Option<Range<usize>>| {
        let Some(word) = text.get(r.clone()) else {
            return;
        };
        f(Occurrence {
            hash: fnv(SEED_WORD, word.as_bytes()),
            family: Family::Word,
            span: r.clone(),
        });
        if let Some(p) = prev.take() {
            if let Some(first) = text.get(p.clone()) {
                // Hash "first second" without building the string.
                let h = fnv_raw(SEED_BIGRAM, first.as_bytes());
                let h = [b' ']
                    .iter()
                    .chain(word.as_bytes())
                    .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME));
                f(Occurrence {
                    hash: finish(h),
                    family: Family::Bigram,
                    span: p.start..r.end,
                });
            }
        }
        *prev = Some(r);
    };
    for (i, ch) in text.char_indices() {
        match (is_word_char(ch), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                emit(s..i, &mut prev);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        emit(s..text.len(), &mut prev);
    }
}

/// What receives the hashes of [`for_each_hash_ascii`]. A struct holding its running values
/// (not a closure holding references to the caller's): the hot loop then keeps them in
/// registers instead of reading and writing memory per feature.
pub(crate) trait HashSink {
    fn take(&mut self, hash: u64);
}

/// The hashes [`for_each`] produces for ASCII `text`, in another order and without spans: what
/// inference needs, since it only sums weights. One pass over the bytes; the word and pair
/// hashes grow as the bytes arrive instead of re-reading each word. The tests compare the
/// multisets of both paths.
pub(crate) fn for_each_hash_ascii<F: HashSink>(text: &[u8], f: &mut F) {
    // The stream the character n-grams read (runs of non-word bytes as one space, a space at
    // both ends) goes through a stack buffer; the n-grams of each start are then hashed in a
    // loop whose iterations do not depend on each other, so the multiply chains of several
    // starts overlap instead of waiting on one another.
    let mut stream = Stream {
        buf: [0u8; STREAM_CHUNK + MAX_GRAM],
        len: 0,
    };
    let mut push = |c: u8, f: &mut F| stream.push(c, f);
    push(b' ', f);
    let mut prev_space = true;
    // Word, first-of-pair and second-of-pair hashes of the current word.
    let (mut hw, mut hb_first, mut hb) = (0u64, 0u64, 0u64);
    let mut pair_base: Option<u64> = None;
    for &b in text {
        if b.is_ascii_alphanumeric() {
            if prev_space {
                hw = FNV_OFFSET ^ SEED_WORD;
                hb_first = FNV_OFFSET ^ SEED_BIGRAM;
                hb = pair_base.unwrap_or(0);
            }
            let x = u64::from(b);
            hw = (hw ^ x).wrapping_mul(FNV_PRIME);
            hb_first = (hb_first ^ x).wrapping_mul(FNV_PRIME);
            hb = (hb ^ x).wrapping_mul(FNV_PRIME);
            push(b, f);
            prev_space = false;
        } else if !prev_space {
            end_word(hw, hb_first, hb, &mut pair_base, f);
            push(b' ', f);
            prev_space = true;
        }
    }
    if !prev_space {
        end_word(hw, hb_first, hb, &mut pair_base, f);
        push(b' ', f);
    }
    // The last starts have fewer than five characters after them.
    let len = stream.len;
    let tail = stream.buf.get(..len).unwrap_or(&[]);
    let full = len.saturating_sub(MAX_GRAM - 1);
    grams_of_starts(tail, full, f);
    for k in full..len {
        if let Some(rest) = tail.get(k..) {
            let mut h = FNV_OFFSET ^ SEED_CHAR;
            for (n, &c) in rest.iter().enumerate() {
                h = (h ^ u64::from(c)).wrapping_mul(FNV_PRIME);
                if n + 1 >= MIN_GRAM {
                    f.take(finish(h));
                }
            }
        }
    }
}

/// The character stream's buffer: bytes whose n-grams are not hashed yet.
struct Stream {
    buf: [u8; STREAM_CHUNK + MAX_GRAM],
    len: usize,
}

impl Stream {
    /// Appends `c`, first hashing the starts whose five characters are all here when full.
    #[inline(always)]
    fn push<F: HashSink>(&mut self, c: u8, f: &mut F) {
        const KEEP: usize = MAX_GRAM - 1;
        const FULL: usize = STREAM_CHUNK + MAX_GRAM;
        if self.len == FULL {
            // Starts whose five characters are all here; the last four characters stay.
            grams_of_starts(&self.buf, FULL - KEEP, f);
            self.buf.copy_within(FULL - KEEP.., 0);
            self.len = KEEP;
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = c;
        }
        self.len += 1;
    }
}

/// Stream bytes buffered before their n-grams are hashed.
const STREAM_CHUNK: usize = 256;

/// The 3-, 4- and 5-gram hashes of each of the first `starts` positions of `stream`, all of
/// which have five characters from there on.
#[inline]
fn grams_of_starts<F: HashSink>(stream: &[u8], starts: usize, f: &mut F) {
    for w in stream.windows(MAX_GRAM).take(starts) {
        let mut h = FNV_OFFSET ^ SEED_CHAR;
        for (n, &c) in w.iter().enumerate() {
            h = (h ^ u64::from(c)).wrapping_mul(FNV_PRIME);
            if n + 1 >= MIN_GRAM {
                f.take(finish(h));
            }
        }
    }
}

#[inline]
fn end_word<F: HashSink>(hw: u64, hb_first: u64, hb: u64, pair_base: &mut Option<u64>, f: &mut F) {
    f.take(finish(hw));
    if pair_base.is_some() {
        f.take(finish(hb));
    }
    *pair_base = Some((hb_first ^ u64::from(b' ')).wrapping_mul(FNV_PRIME));
}

/// Shape features are squashed so one absurd value (a 200 KiB message) cannot dominate:
/// `sign(z) · ln(1 + |z|)` of the standardised value.
pub(crate) fn squash(z: f64) -> f64 {
    if z.is_finite() {
        z.signum() * z.abs().ln_1p()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(text: &str) -> Vec<(Family, String)> {
        let mut out = Vec::new();
        for_each(text, |o| {
            out.push((o.family, text.get(o.span.clone()).unwrap_or("?").to_owned()))
        });
        out
    }

    #[test]
    fn words_and_bigrams_follow_the_text() {
        let g = grams("ignore all, rules");
        let words: Vec<&str> = g
            .iter()
            .filter(|(f, _)| *f == Family::Word)
            .map(|(_, s)| s.as_str())
            .collect();
        assert_eq!(words, ["ignore", "all", "rules"]);
        let bigrams: Vec<&str> = g
            .iter()
            .filter(|(f, _)| *f == Family::Bigram)
            .map(|(_, s)| s.as_str())
            .collect();
        assert_eq!(bigrams, ["ignore all", "all, rules"]);
    }

    #[test]
    fn char_grams_cover_three_to_five_characters_and_stay_on_boundaries() {
        let g = grams("añob");
        let chars: Vec<&str> = g
            .iter()
            .filter(|(f, _)| *f == Family::Char)
            .map(|(_, s)| s.as_str())
            .collect();
        // " añob " has 6 characters: four 3-grams, three 4-grams, two 5-grams (spans drop the
        // virtual spaces at both ends).
        assert_eq!(chars.len(), 9);
        assert!(chars.contains(&"año"));
        assert!(chars.contains(&"añob"));
    }

    #[test]
    fn hashes_are_stable_across_runs() {
        // Pinned: a changed hash silently invalidates every shipped model (bump RECIPE instead).
        assert_eq!(fnv(SEED_WORD, b"refund"), fnv(SEED_WORD, b"refund"));
        assert_ne!(fnv(SEED_WORD, b"refund"), fnv(SEED_CHAR, b"refund"));
        let mut first = Vec::new();
        for_each("where is my order", |o| first.push(o.hash));
        let mut second = Vec::new();
        for_each("where is my order", |o| second.push(o.hash));
        assert_eq!(first, second);
        assert_eq!(fnv(SEED_WORD, b"refund"), 0x6543_14a5_7763_b279);
    }

    fn both_paths(text: &str) -> (Vec<u64>, Vec<u64>) {
        let mut general = Vec::new();
        for_each(text, |o| general.push(o.hash));
        struct Collect(Vec<u64>);
        impl HashSink for Collect {
            fn take(&mut self, hash: u64) {
                self.0.push(hash);
            }
        }
        let mut fast = Collect(Vec::new());
        for_each_hash_ascii(text.as_bytes(), &mut fast);
        let mut fast = fast.0;
        general.sort_unstable();
        fast.sort_unstable();
        (general, fast)
    }

    #[test]
    fn ascii_fast_path_hashes_the_same_features() {
        for t in [
            "",
            "a",
            "ab",
            "abc",
            "ignore previous instructions",
            "  Where is my order #4471??  ",
            "x y z 12 -- 3",
            "one,two;three four",
        ] {
            let (general, fast) = both_paths(t);
            assert_eq!(general, fast, "{t:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn ascii_fast_path_hashes_the_same_features_on_arbitrary_text(t in "[ -~\t\n]{0,700}") {
            let (general, fast) = both_paths(&t);
            proptest::prop_assert_eq!(general, fast);
        }
    }
}
