//! Fusion: many signals into one risk in `[0, 1]`.
//!
//! ```text
//! segment   = 1 − Π (1 − s_r)            over distinct rules r in the segment (max per rule)
//! worst     = max( max over segments, 1 − Π (1 − 0.6·s_r) over distinct rules in the message )
//! patterns  = 1 − (1 − worst) · Π (1 − g_r)   over message-wide rules g (framing, vocabulary)
//! risk      = 1 − (1 − patterns)(1 − unicode)(1 − shape)
//! ```
//! The worst segment decides, so a long benign wrapper cannot dilute an injection; the damped
//! message-wide term lets weak evidence spread over several sentences add up without letting
//! it decide alone. `unicode` (obfuscation evidence) is capped at 0.45 and `shape` at 0.25, so
//! neither blocks on its own at the default threshold.

/// One scored piece of pattern evidence, keyed by where it was found.
#[derive(Debug, Clone)]
pub(crate) struct Scored {
    pub rule: &'static str,
    pub score: f64,
    /// `(view, segment)`; `None` for message-wide rules.
    pub segment: Option<(usize, usize)>,
}

pub(crate) const UNICODE_CAP: f64 = 0.45;
const SPREAD: f64 = 0.6;

fn noisy_or(scores: impl Iterator<Item = f64>) -> f64 {
    1.0 - scores.fold(1.0, |acc, s| acc * (1.0 - s.clamp(0.0, 1.0)))
}

/// Rule names compared by address first: the same literal, almost always.
pub(crate) fn same_rule(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

fn rule_order(a: &str, b: &str) -> std::cmp::Ordering {
    if std::ptr::eq(a, b) {
        std::cmp::Ordering::Equal
    } else {
        a.cmp(b)
    }
}

/// Keeps the maximum score per rule; a handful of rules per message, so a vector beats hashing.
fn max_into(v: &mut Vec<(&'static str, f64)>, key: &'static str, score: f64) {
    match v.iter_mut().find(|(k, _)| same_rule(k, key)) {
        Some((_, s)) => *s = s.max(score),
        None => v.push((key, score)),
    }
}

/// Pattern risk from scored evidence.
pub(crate) fn pattern_risk(items: &[Scored]) -> f64 {
    let mut per_segment: Vec<((usize, usize), &'static str, f64)> = Vec::with_capacity(items.len());
    let mut per_rule: Vec<(&'static str, f64)> = Vec::new();
    let mut global: Vec<(&'static str, f64)> = Vec::new();
    for it in items {
        max_into(&mut per_rule, it.rule, it.score);
        match it.segment {
            Some(k) => per_segment.push((k, it.rule, it.score)),
            None => max_into(&mut global, it.rule, it.score),
        }
    }
    // Sorted by segment, then rule, then score descending: the first of each (segment, rule)
    // is its maximum. O(n log n) however many findings a long message has.
    // Rules compared only within a segment (`then` compared them for every pair).
    per_segment.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| rule_order(a.1, b.1))
            .then_with(|| b.2.total_cmp(&a.2))
    });
    let mut best_segment: f64 = 0.0;
    let mut current: Option<((usize, usize), &'static str)> = None;
    let mut keep = 1.0;
    for &(k, rule, score) in &per_segment {
        match current {
            Some((ck, cr)) if ck == k && same_rule(cr, rule) => continue,
            Some((ck, _)) if ck == k => {}
            _ => {
                best_segment = best_segment.max(1.0 - keep);
                keep = 1.0;
            }
        }
        current = Some((k, rule));
        keep *= 1.0 - score.clamp(0.0, 1.0);
    }
    best_segment = best_segment.max(1.0 - keep);
    let spread = noisy_or(per_rule.iter().map(|(_, s)| s * SPREAD));
    // Message-wide evidence (framing, vocabulary, splitting) qualifies the worst segment.
    let global = noisy_or(global.iter().map(|(_, s)| *s));
    noisy_or([best_segment.max(spread), global].into_iter()).clamp(0.0, 1.0)
}

/// Final risk.
pub(crate) fn combine(patterns: f64, unicode: f64, shape: f64) -> f64 {
    let u = unicode.clamp(0.0, UNICODE_CAP);
    let s = shape.clamp(0.0, 1.0);
    (1.0 - (1.0 - patterns.clamp(0.0, 1.0)) * (1.0 - u) * (1.0 - s)).clamp(0.0, 1.0)
}

/// Pattern risk from which the learned detector no longer adds anything: by then the rules have
/// seen the phrases themselves and weighed their context (a quoted, reported attempt), which a
/// bag of n-grams cannot; the model must not undo that discount.
pub(crate) const LEARNED_PATTERN_CEILING: f64 = 0.4;

/// Whether fusion uses the learned detector at this pattern risk.
pub(crate) fn learned_applies(patterns: f64) -> bool {
    patterns > 0.0 && patterns < LEARNED_PATTERN_CEILING
}

/// Adds the learned detector's risk (already capped by `learned::risk`) to the fused risk, only
/// on top of some pattern evidence: the model's score grows with the length of a text whose
/// n-grams lean its way (a pasted list of 500 order lines), and with the shape anomaly of such
/// a text it could otherwise block a message no rule finds anything in.
pub(crate) fn with_learned(risk: f64, patterns: f64, learned: f64) -> f64 {
    if !learned_applies(patterns) {
        return risk.clamp(0.0, 1.0);
    }
    let l = learned.clamp(0.0, 1.0);
    (1.0 - (1.0 - risk.clamp(0.0, 1.0)) * (1.0 - l)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(rule: &'static str, score: f64, seg: Option<(usize, usize)>) -> Scored {
        Scored {
            rule,
            score,
            segment: seg,
        }
    }

    #[test]
    fn worst_segment_decides_and_benign_text_cannot_dilute() {
        let one = pattern_risk(&[s("a", 0.7, Some((0, 3)))]);
        assert!((one - 0.7).abs() < 1e-9);
        let same_seg = pattern_risk(&[s("a", 0.5, Some((0, 1))), s("b", 0.5, Some((0, 1)))]);
        assert!((same_seg - 0.75).abs() < 1e-9);
        let apart = pattern_risk(&[s("a", 0.5, Some((0, 1))), s("b", 0.5, Some((0, 2)))]);
        assert!(apart < same_seg && apart >= 0.5);
    }

    #[test]
    fn unicode_and_shape_cannot_block_alone() {
        assert!(combine(0.0, 1.0, 0.0) <= UNICODE_CAP + 1e-9);
        assert!(combine(0.0, 0.0, 0.25) < 0.5);
        assert!(combine(0.4, 0.2, 0.0) > 0.5);
    }
}
