//! The learned detector: a logistic regression over hashed character n-grams, words, word pairs
//! and shape features of the canonical view. It generalises across phrasings the phrase packs
//! do not list; fusion only lets it add risk when it is very sure (see [`risk`]), so it raises
//! detection without its own false positives deciding anything alone.
//!
//! Training lives here too (`train`), so `guard train` and the tests share one trainer.

mod explain;
mod features;
mod model;
mod train;

pub use model::{LearnedModel, ModelError, FORMAT_VERSION};
pub use train::{prepare, train, Example, Prepared, TrainOptions};

use super::detect::{Detector, Evidence, Input};
use super::views::View;
use super::Signal;

/// Below this probability the model adds nothing.
pub(crate) const FLOOR: f64 = 0.9;
/// The most the model adds to risk, reached at probability 1. Below the default block
/// threshold (0.5): the model blocks only together with pattern evidence of at least 0.23.
pub(crate) const CAP: f64 = 0.35;

/// Risk the model's probability contributes.
pub(crate) fn risk(p: f64) -> f64 {
    if !p.is_finite() {
        return 0.0;
    }
    (CAP * (p - FLOOR) / (1.0 - FLOOR)).clamp(0.0, CAP)
}

/// Phrases named in the signals, at most.
const REASONS: usize = 3;
/// Longest phrase quoted in a rule, in characters.
const MAX_PHRASE_CHARS: usize = 40;

#[derive(Debug)]
pub(crate) struct LearnedDetector {
    pub model: LearnedModel,
}

/// Readings the model scores besides the canonical view: the repaired and decoded ones, which
/// read as text again (not the letter-only joined view). Bounded, so a message cannot buy
/// itself many inference passes.
const MAX_READINGS: usize = 4;

impl LearnedDetector {
    /// The model's probability for a prepared input: the highest over the message's readable
    /// views, so leetspeak or a decoded payload is judged as the words it spells (no
    /// allocation).
    pub(crate) fn probability(&self, input: &Input<'_>) -> Option<f64> {
        self.best_view(input).map(|(p, _)| p)
    }

    fn best_view<'v>(&self, input: &'v Input<'_>) -> Option<(f64, &'v View)> {
        let shape = input.shape_features();
        input
            .views
            .views
            .iter()
            .filter(|v| v.boundaries)
            .take(MAX_READINGS)
            .map(|v| (self.model.probability(&v.text, &shape), v))
            .reduce(|a, b| if b.0 > a.0 { b } else { a })
    }
}

impl Detector for LearnedDetector {
    fn name(&self) -> &'static str {
        "learned"
    }

    fn detect(&self, input: &Input<'_>, out: &mut Evidence) {
        let Some((p, view)) = self.best_view(input) else {
            return;
        };
        let r = risk(p);
        if r <= 0.0 {
            return;
        }
        out.learned = r;
        let reasons = explain::reasons(&self.model, &view.text, REASONS);
        if reasons.is_empty() {
            out.signals.push(Signal {
                detector: self.name(),
                rule: "model".into(),
                score: r,
                span: None,
            });
        }
        for reason in reasons {
            let phrase: String = view
                .text
                .get(reason.span.clone())
                .unwrap_or("")
                .chars()
                .map(|c| if c.is_whitespace() { ' ' } else { c })
                .take(MAX_PHRASE_CHARS)
                .collect();
            out.signals.push(Signal {
                detector: self.name(),
                rule: format!("{phrase:?}").into(),
                score: r,
                span: view.map.original(&reason.span),
            });
        }
    }
}

#[cfg(test)]
mod tests;
