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

impl LearnedDetector {
    /// The model's probability for a prepared input (no allocation).
    pub(crate) fn probability(&self, input: &Input<'_>) -> Option<f64> {
        let view = input.views.views.first()?;
        Some(self.model.probability(&view.text, &input.shape_features()))
    }
}

impl Detector for LearnedDetector {
    fn name(&self) -> &'static str {
        "learned"
    }

    fn detect(&self, input: &Input<'_>, out: &mut Evidence) {
        let Some(p) = self.probability(input) else {
            return;
        };
        let r = risk(p);
        if r <= 0.0 {
            return;
        }
        out.learned = r;
        let Some(view) = input.views.views.first() else {
            return;
        };
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
                rule: format!("{phrase:?}"),
                score: r,
                span: view.map.original(&reason.span),
            });
        }
    }
}

#[cfg(test)]
mod tests;
