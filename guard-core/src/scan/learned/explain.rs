//! Why the model scored a message: the words and phrases of the message whose features pushed
//! the score up most. Runs only when the detector raises a signal, so it may allocate.

use std::ops::Range;

use super::features::{self, Family};
use super::model::{norm, LearnedModel};

/// A phrase of the canonical text and how much it added to the model's log-odds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reason {
    pub span: Range<usize>,
    pub weight: f64,
}

/// Longest phrase reported, in words.
const MAX_WORDS: usize = 3;

/// Up to `k` non-overlapping phrases of `canonical` (1–3 words each) with the heaviest positive
/// contribution, heaviest first.
///
/// Each feature occurrence's contribution is credited to the words it touches (a bigram half
/// to each word, a character n-gram to the word it starts in), then the best windows of one to
/// three consecutive words are picked greedily.
pub(crate) fn reasons(model: &LearnedModel, canonical: &str, k: usize) -> Vec<Reason> {
    let mut words: Vec<(Range<usize>, f64)> = Vec::new();
    let mut n = 0u64;
    features::for_each(canonical, |o| {
        n += 1;
        if o.family == Family::Word {
            words.push((o.span, 0.0));
        }
    });
    if words.is_empty() {
        return Vec::new();
    }
    let scale = 1.0 / norm(n);
    let word_at = |pos: usize, words: &[(Range<usize>, f64)]| -> Option<usize> {
        // The word containing `pos`, or the next one after it.
        let i = words.partition_point(|(r, _)| r.end <= pos);
        (i < words.len()).then_some(i)
    };
    features::for_each(canonical, |o| {
        let c = model.weight(&o) * scale;
        match o.family {
            Family::Word | Family::Char => {
                if let Some(i) = word_at(o.span.start, &words) {
                    if let Some(w) = words.get_mut(i) {
                        w.1 += c;
                    }
                }
            }
            Family::Bigram => {
                if let Some(i) = word_at(o.span.start, &words) {
                    for j in [i, i + 1] {
                        if let Some(w) = words.get_mut(j) {
                            w.1 += c / 2.0;
                        }
                    }
                }
            }
        }
    });
    let mut taken = vec![false; words.len()];
    let mut out = Vec::new();
    while out.len() < k {
        let mut best: Option<(usize, usize, f64)> = None;
        for start in 0..words.len() {
            let mut sum = 0.0;
            for len in 1..=MAX_WORDS {
                let j = start + len - 1;
                let (Some(w), Some(false)) = (words.get(j), taken.get(j).copied()) else {
                    break;
                };
                sum += w.1;
                // A longer window must earn its extra words.
                let gain = sum - 0.05 * (len as f64 - 1.0) * sum.abs();
                if gain > 0.0 && best.is_none_or(|b| gain > b.2) {
                    best = Some((start, len, gain));
                }
            }
        }
        let Some((start, len, gain)) = best else {
            break;
        };
        let (Some(first), Some(last)) = (words.get(start), words.get(start + len - 1)) else {
            break;
        };
        out.push(Reason {
            span: first.0.start..last.0.end,
            weight: gain,
        });
        for t in taken.iter_mut().skip(start).take(len) {
            *t = true;
        }
    }
    out
}
