//! Message scanning: prompt-injection detection before text reaches the model.
//!
//! `message ─► normalize ─► detectors ─► fuse ─► Verdict`
//!
//! (Placeholder: the detectors are being built; this module fixes the interface the rest of the
//! crate uses.)

use std::ops::Range;

use thiserror::Error;

use crate::policy::ScannerPolicy;

/// Where the scanned text comes from. Injections found in tool output do not lower the
/// customer's trust: the customer did not write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// Typed by the customer.
    #[default]
    Customer,
    /// Returned by a tool and about to be fed back to the model.
    ToolOutput,
}

/// One piece of evidence: which detector, which rule, how strong, and where in the original text.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub(crate) detector: &'static str,
    pub(crate) rule: String,
    pub(crate) score: f64,
    pub(crate) span: Option<Range<usize>>,
}

impl Signal {
    /// The detector that raised it (`patterns`, `unicode`, `shape`, ...).
    pub fn detector(&self) -> &str {
        self.detector
    }
    /// The stable rule id within the detector.
    pub fn rule(&self) -> &str {
        &self.rule
    }
    /// Strength in `[0, 1]`.
    pub fn score(&self) -> f64 {
        self.score
    }
    /// Half-open UTF-8 byte range in the original text, when the signal has a location.
    pub fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }
}

/// The scanner's answer for one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub(crate) risk: f64,
    pub(crate) blocked: bool,
    pub(crate) flagged: bool,
    pub(crate) signals: Vec<Signal>,
}

/// What a customer sees instead of the model's answer when their message is blocked.
pub const NEUTRAL_REPLY: &str = "Let me help you with that.";

impl Verdict {
    /// Fused risk in `[0, 1]`.
    pub fn risk(&self) -> f64 {
        self.risk
    }
    /// True when the message must not reach the model.
    pub fn blocked(&self) -> bool {
        self.blocked
    }
    /// True when risk reached `scanner.flag_threshold`: the session's next money action FLAGs.
    pub fn flagged(&self) -> bool {
        self.flagged
    }
    /// Every signal, strongest first.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }
    /// The neutral reply to show the customer when blocked.
    pub fn reply(&self) -> Option<&'static str> {
        self.blocked.then_some(NEUTRAL_REPLY)
    }
}

/// Errors building a scanner from its policy.
#[derive(Debug, Error)]
pub enum ScanError {
    /// A `scanner.custom_patterns` entry did not compile within the size limits.
    #[error("custom pattern {id:?}: {reason}")]
    CustomPattern {
        /// The pattern's id.
        id: String,
        /// Why it was refused.
        reason: String,
    },
}

/// Compiled detectors, built once per blueprint and shared by every scan.
#[derive(Debug)]
pub struct Scanner {
    max_message_bytes: usize,
    block_threshold: f64,
    flag_threshold: f64,
}

impl Scanner {
    /// Compiles the detectors for a blueprint's scanner settings.
    pub fn new(policy: &ScannerPolicy) -> Result<Self, ScanError> {
        Ok(Self {
            max_message_bytes: policy.max_message_bytes,
            block_threshold: policy.block_threshold,
            flag_threshold: policy.flag_threshold,
        })
    }

    /// Scans one message on its own.
    pub fn scan(&self, text: &str, source: Source) -> Verdict {
        self.scan_in_context(text, &[], source)
    }

    /// Scans one message, also looking at it joined with the session's previous messages
    /// (`history`, oldest first) so an instruction split across messages is seen.
    pub fn scan_in_context(&self, text: &str, _history: &[&str], _source: Source) -> Verdict {
        if text.len() > self.max_message_bytes {
            return self.fuse(vec![Signal {
                detector: "limits",
                rule: "message_too_large".into(),
                score: 1.0,
                span: None,
            }]);
        }
        self.fuse(Vec::new())
    }

    fn fuse(&self, signals: Vec<Signal>) -> Verdict {
        let risk = signals.iter().map(|s| s.score).fold(0.0, f64::max);
        Verdict {
            risk,
            blocked: risk >= self.block_threshold,
            flagged: risk >= self.flag_threshold,
            signals,
        }
    }
}
