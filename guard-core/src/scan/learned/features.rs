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

fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = (FNV_OFFSET ^ seed).wrapping_mul(FNV_PRIME);
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    // FNV's low bits mix poorly for short keys; fold the high half in before masking.
    h ^ (h >> 29)
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

/// Calls `f` once per feature occurrence of `canonical`, left to right. Allocates nothing.
///
/// Character n-grams run over the text with runs of non-word characters read as one space, and
/// a space added at both ends so word starts and ends are features of their own (" ignor").
pub(crate) fn for_each(canonical: &str, mut f: impl FnMut(Occurrence)) {
    char_grams(canonical, &mut f);
    words(canonical, &mut f);
}

fn char_grams(text: &str, f: &mut impl FnMut(Occurrence)) {
    // A ring of the last MAX_GRAM character start offsets (in `text`), with a flag for the
    // virtual leading space. Characters that are not word characters collapse into one space.
    let mut starts = [0usize; MAX_GRAM];
    let mut seen = 0usize;
    // Small stack buffer holding the squashed text of the current window, in UTF-8.
    let mut window = [0u8; MAX_GRAM * 4];
    let mut lens = [0usize; MAX_GRAM];
    let mut prev_space = true;
    let mut push = |ch: char, at: usize, f: &mut dyn FnMut(Occurrence)| {
        let mut buf = [0u8; 4];
        let enc = ch.encode_utf8(&mut buf).as_bytes();
        // Shift the ring: oldest character out when full.
        if seen == MAX_GRAM {
            let drop = lens.first().copied().unwrap_or(0);
            window.copy_within(drop.., 0);
            starts.rotate_left(1);
            lens.rotate_left(1);
            seen -= 1;
        }
        let used: usize = lens.iter().take(seen).sum();
        if let Some(dst) = window.get_mut(used..used + enc.len()) {
            dst.copy_from_slice(enc);
        }
        if let (Some(s), Some(l)) = (starts.get_mut(seen), lens.get_mut(seen)) {
            *s = at;
            *l = enc.len();
        }
        seen += 1;
        let total = used + enc.len();
        let end = at + enc.len();
        for n in MIN_GRAM..=seen {
            let skip: usize = lens.iter().take(seen - n).sum();
            let (Some(bytes), Some(&from)) = (window.get(skip..total), starts.get(seen - n)) else {
                continue;
            };
            f(Occurrence {
                hash: fnv(SEED_CHAR, bytes),
                family: Family::Char,
                span: from..end.max(from),
            });
        }
    };
    push(' ', 0, f);
    for (i, ch) in text.char_indices() {
        if is_word_char(ch) {
            push(ch, i, f);
            prev_space = false;
        } else if !prev_space {
            push(' ', i, f);
            prev_space = true;
        }
    }
    if !prev_space {
        push(' ', text.len(), f);
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
                let h = fnv(SEED_BIGRAM, first.as_bytes());
                let h = [b' ']
                    .iter()
                    .chain(word.as_bytes())
                    .fold(h ^ (h >> 29), |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME));
                f(Occurrence {
                    hash: h ^ (h >> 29),
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
        assert_eq!(fnv(SEED_WORD, b"refund"), 0x1f2c_8f74_f111_9654);
    }
}
