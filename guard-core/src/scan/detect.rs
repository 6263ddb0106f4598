//! Detectors behind one trait, and the engine that prepares their shared input once per
//! message (views, phrase hits, segments) and collects their evidence.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::Range;

use regex::{Regex, RegexBuilder};

use super::classmask::le_word;
use super::decode::RotationIndex;
use super::fuse::{self, Scored};
use super::learned::{LearnedDetector, LearnedModel};
use super::normalize;
use super::patterns::{self, replaced_ranges, Finding, Hit, Lexicon, Role, RuleSet};
use super::segments::{segment_starts, segment_starts_derived, segment_starts_masked};
use super::shape::{PatternCounts, ShapeBaseline, ShapeFeatures, SHAPE_WEIGHT};
use super::views::{self, ViewKind, Views};
use super::{ScanError, Signal, Source};
use crate::policy::CustomPattern;

/// SipHash's flood resistance buys nothing for a per-message map of a few dozen rule names
/// (fixed strings, not attacker input).
pub(crate) type Fx = BuildHasherDefault<FxHasher>;

/// rustc's FxHash: one rotate, xor and multiply per eight bytes.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            self.add(le_word(chunk));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_isize(&mut self, i: isize) {
        self.add(i as u64);
    }
}

/// A signal's identity within one message: view prefix, rule, span.
type SignalKey = (Name, Name, Option<Range<usize>>);

/// A rule or view name. Names come from a few static strings, so comparing addresses first
/// settles almost every comparison without reading the bytes.
#[derive(Debug, Clone, Copy, Eq)]
struct Name(&'static str);

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        fuse::same_rule(self.0, other.0)
    }
}

/// Length and first and last eight bytes: equal names hash equally, different rule names
/// almost never collide, and no byte loop runs (hashing whole names was a tenth of the
/// pattern detector on messages with many findings).
impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let b = self.0.as_bytes();
        let head = le_word(b);
        let tail = le_word(b.get(b.len().saturating_sub(8)..).unwrap_or(b));
        state.write_usize(b.len());
        state.write_u64(head ^ tail.rotate_left(32));
    }
}

/// Everything detectors look at, computed once per message.
pub(crate) struct Input<'a> {
    pub original: &'a str,
    pub source: Source,
    pub views: Views,
    pub hits: Vec<Vec<Hit>>,
    pub segments: Vec<Vec<usize>>,
    /// Shape features of the original, measured once for the shape and learned detectors.
    shape: std::cell::OnceCell<ShapeFeatures>,
}

impl Input<'_> {
    pub(crate) fn shape_features(&self) -> ShapeFeatures {
        *self.shape.get_or_init(|| {
            let counts = pattern_counts(self);
            // Plain ASCII: the canonical view is the lower-cased text, so its class masks
            // already hold most of the counts.
            let plain = self
                .views
                .views
                .first()
                .is_some_and(|v| v.map.is_identity());
            self.views
                .canonical_masks
                .as_ref()
                .filter(|_| plain)
                .and_then(|m| ShapeFeatures::of_plain(self.original, m, counts))
                .unwrap_or_else(|| ShapeFeatures::of(self.original, counts))
        })
    }
}

/// What detectors report.
#[derive(Debug, Default)]
pub(crate) struct Evidence {
    pub scored: Vec<Scored>,
    pub signals: Vec<Signal>,
    pub unicode: Vec<f64>,
    pub shape: f64,
    /// Risk from the learned detector (already mapped through `learned::risk`).
    pub learned: f64,
}

impl Evidence {
    fn unicode(&mut self, rule: &'static str, score: f64, span: Option<Range<usize>>) {
        self.unicode.push(score);
        self.signals.push(Signal {
            detector: UnicodeDetector.name(),
            rule: rule.into(),
            score,
            span,
        });
    }
}

/// One detection layer.
pub(crate) trait Detector: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;
    fn detect(&self, input: &Input<'_>, out: &mut Evidence);
}

#[derive(Debug)]
struct PatternDetector {
    rules: RuleSet,
}

fn view_prefix(kind: ViewKind) -> &'static str {
    match kind {
        ViewKind::Canonical => "",
        ViewKind::Leet => "leet.",
        ViewKind::Joined => "joined.",
        ViewKind::Decoded(k) => match k {
            "base64" => "base64.",
            "hex" => "hex.",
            "url" => "url.",
            "morse" => "morse.",
            "rotation" => "rotation.",
            "pig_latin" => "pig_latin.",
            _ => "tags.",
        },
    }
}

impl PatternDetector {
    fn findings(&self, input: &Input<'_>, out: &mut Vec<(usize, Finding)>) {
        // One buffer for every view's findings.
        let mut fs = Vec::new();
        for (vi, view) in input.views.views.iter().enumerate() {
            let (Some(hits), Some(segs)) = (input.hits.get(vi), input.segments.get(vi)) else {
                continue;
            };
            let vin =
                patterns::rules::ViewInput::new(&view.text, hits, segs, input.source, vi == 0);
            patterns::evaluate(&self.rules, &vin, &mut fs);
            out.extend(fs.drain(..).map(|f| (vi, f)));
        }
    }
}

impl Detector for PatternDetector {
    fn name(&self) -> &'static str {
        "patterns"
    }

    fn detect(&self, input: &Input<'_>, out: &mut Evidence) {
        let mut fs = Vec::new();
        self.findings(input, &mut fs);
        // Keyed by (view prefix, rule, span): no string is built for a repeat.
        let mut seen: HashMap<SignalKey, usize, Fx> =
            HashMap::with_capacity_and_hasher(fs.len(), Fx::default());
        let mut encoded: Option<(f64, Option<Range<usize>>)> = None;
        for (vi, f) in fs {
            let Some(view) = input.views.views.get(vi) else {
                continue;
            };
            let span = view.map.original(&(f.start..f.end));
            if matches!(view.kind, ViewKind::Decoded(_)) && f.score >= 0.3 && encoded.is_none() {
                encoded = Some((0.3, span.clone()));
            }
            out.scored.push(Scored {
                rule: f.rule,
                score: f.score,
                segment: f.segment.map(|s| (vi, s)),
            });
            // Leet and joined views repeat what the canonical view already reported; only
            // their own findings are worth a separate signal.
            if matches!(view.kind, ViewKind::Leet | ViewKind::Joined)
                && seen.contains_key(&(Name(""), Name(f.rule), span.clone()))
            {
                continue;
            }
            let prefix = view_prefix(view.kind);
            let key = (Name(prefix), Name(f.rule), span.clone());
            match seen.get(&key) {
                Some(&k) => {
                    if let Some(s) = out.signals.get_mut(k) {
                        s.score = s.score.max(f.score);
                    }
                }
                None => {
                    seen.insert(key, out.signals.len());
                    out.signals.push(Signal {
                        detector: self.name(),
                        // The rule's own name borrowed; a derived view's name two copies,
                        // not the formatting machinery.
                        rule: if prefix.is_empty() {
                            Cow::Borrowed(f.rule)
                        } else {
                            Cow::Owned([prefix, f.rule].concat())
                        },
                        score: f.score,
                        span,
                    });
                }
            }
        }
        // Named people only matter next to personal data or a secret.
        let personal = input
            .hits
            .first()
            .is_some_and(|hs| hs.iter().any(|h| h.has(Role::Pii) || h.has(Role::Secret)));
        let named = if personal {
            patterns::rules::named_possessive(&self.rules, input.original)
        } else {
            None
        };
        if let Some((a, b)) = named {
            out.scored.push(Scored {
                rule: "third_party_data",
                score: 0.45,
                segment: Some((usize::MAX, a)),
            });
            out.signals.push(Signal {
                detector: self.name(),
                rule: "third_party_data".into(),
                score: 0.45,
                span: Some(a..b),
            });
        }
        if let Some((score, span)) = encoded {
            out.unicode("encoded_instruction", score, span);
        }
    }
}

#[derive(Debug)]
struct UnicodeDetector;

impl Detector for UnicodeDetector {
    fn name(&self) -> &'static str {
        "unicode"
    }

    fn detect(&self, input: &Input<'_>, out: &mut Evidence) {
        let s = &input.views.stats;
        if s.invisible_in_words > 0 {
            let score = if s.invisible_in_words >= 3 {
                0.35
            } else {
                0.25
            };
            out.unicode("invisible_characters", score, s.invisible_span.clone());
        }
        if s.bidi_controls > 0 {
            out.unicode("bidi_controls", 0.3, s.bidi_span.clone());
        }
        if s.tag_payload.len() >= 4 {
            out.unicode("tag_characters", 0.4, s.tag_span.clone());
        }
        if s.mixed_script_words > 0 {
            out.unicode("mixed_script", 0.25, s.mixed_span.clone());
        }
        if s.confusable_words > 0 {
            out.unicode("whole_script_confusable", 0.2, s.confusable_span.clone());
        }
        if s.folded_letters >= 4 {
            out.unicode("styled_letters", 0.15, None);
        }
    }
}

#[derive(Debug)]
struct CustomDetector {
    patterns: Vec<(String, Regex, f64)>,
}

impl Detector for CustomDetector {
    fn name(&self) -> &'static str {
        "custom"
    }

    fn detect(&self, input: &Input<'_>, out: &mut Evidence) {
        let canonical = input.views.views.first();
        for (id, re, score) in &self.patterns {
            let span = re
                .find(input.original)
                .map(|m| m.start()..m.end())
                .or_else(|| {
                    let v = canonical?;
                    re.find(&v.text)
                        .and_then(|m| v.map.original(&(m.start()..m.end())))
                });
            if let Some(span) = span {
                out.scored.push(Scored {
                    rule: "custom",
                    score: *score,
                    segment: None,
                });
                out.signals.push(Signal {
                    detector: self.name(),
                    rule: id.clone().into(),
                    score: *score,
                    span: Some(span),
                });
            }
        }
    }
}

#[derive(Debug)]
struct ShapeDetector {
    baseline: ShapeBaseline,
}

pub(crate) fn pattern_counts(input: &Input<'_>) -> PatternCounts {
    let hits = input.hits.first().map_or(&[][..], Vec::as_slice);
    let imperative = Role::Override.bit()
        | Role::Reveal.bit()
        | Role::Say.bit()
        | Role::ModeSwitch.bit()
        | Role::Persona.bit();
    let marker = Role::Marker.bit() | Role::ModeName.bit() | Role::Authority.bit();
    PatternCounts {
        imperatives: hits.iter().filter(|h| h.roles & imperative != 0).count(),
        markers: hits.iter().filter(|h| h.roles & marker != 0).count(),
    }
}

impl Detector for ShapeDetector {
    fn name(&self) -> &'static str {
        "shape"
    }

    fn detect(&self, input: &Input<'_>, out: &mut Evidence) {
        // The baseline describes what customers type; tool output has its own shapes.
        if input.source != Source::Customer {
            return;
        }
        let f = input.shape_features();
        let score = SHAPE_WEIGHT * self.baseline.anomaly(&f);
        if score >= 0.02 {
            out.shape = score;
            out.signals.push(Signal {
                detector: self.name(),
                rule: "anomaly".into(),
                score,
                span: None,
            });
        }
    }
}

/// The result of one analysis, before thresholds.
#[derive(Debug)]
pub(crate) struct Analysis {
    pub patterns: f64,
    pub unicode: f64,
    pub shape: f64,
    pub learned: f64,
    pub signals: Vec<Signal>,
}

/// Pattern evidence that involves text after `prefix` (the current message in a joined
/// history).
#[derive(Debug)]
pub(crate) struct ContextResult {
    pub risk: f64,
    pub rule: String,
    pub span: Option<Range<usize>>,
}

/// Custom patterns are compiled with these limits so an operator typo cannot blow up memory.
const CUSTOM_SIZE_LIMIT: usize = 1 << 20;
const MAX_CUSTOM_PATTERN_LEN: usize = 4096;

#[derive(Debug)]
pub(crate) struct Engine {
    lexicon: Lexicon,
    rotation: RotationIndex,
    patterns: PatternDetector,
    detectors: Vec<Box<dyn Detector>>,
    learned: Option<LearnedDetector>,
}

impl Engine {
    pub(crate) fn new(
        custom: &[CustomPattern],
        baseline: ShapeBaseline,
        learned: Option<LearnedModel>,
    ) -> Result<Self, ScanError> {
        let mut compiled = Vec::with_capacity(custom.len());
        for c in custom {
            let refuse = |reason: String| ScanError::CustomPattern {
                id: c.id.clone(),
                reason,
            };
            if c.pattern.len() > MAX_CUSTOM_PATTERN_LEN {
                return Err(refuse(format!(
                    "longer than {MAX_CUSTOM_PATTERN_LEN} bytes"
                )));
            }
            if !(0.0..=1.0).contains(&c.score) {
                return Err(refuse(format!("score {} is outside [0, 1]", c.score)));
            }
            let re = RegexBuilder::new(&c.pattern)
                .size_limit(CUSTOM_SIZE_LIMIT)
                .dfa_size_limit(CUSTOM_SIZE_LIMIT)
                .nest_limit(64)
                .build()
                .map_err(|e| refuse(e.to_string()))?;
            compiled.push((c.id.clone(), re, c.score));
        }
        let detectors: Vec<Box<dyn Detector>> = vec![
            Box::new(UnicodeDetector),
            Box::new(CustomDetector { patterns: compiled }),
            Box::new(ShapeDetector { baseline }),
        ];
        let learned = learned.map(|model| LearnedDetector { model });
        normalize::warm_tables();
        Ok(Self {
            lexicon: Lexicon::new()?,
            rotation: RotationIndex::new(),
            patterns: PatternDetector {
                rules: RuleSet::new()?,
            },
            detectors,
            learned,
        })
    }

    fn prepare<'a>(&self, text: &'a str, source: Source) -> Input<'a> {
        let views = views::build(text, &self.rotation, self.lexicon.known_words());
        let n = views.views.len();
        let mut hits: Vec<Vec<Hit>> = Vec::with_capacity(n);
        let mut segments: Vec<Vec<usize>> = Vec::with_capacity(n);
        for (i, v) in views.views.iter().enumerate() {
            // Hits run to one per 16 bytes on attack text: growing from empty cost more than
            // the scan of a short view. Capped so a long message does not take a fresh mapping
            // from the allocator for every view (24 KiB at most).
            let mut h = Vec::with_capacity((v.text.len() / 16 + 8).min(1024));
            let segs = match self.derived_scan(&views.views, i, &hits, &segments) {
                Some((base, changed, base_segs)) => {
                    self.lexicon.find_derived(&v.text, base, &changed, &mut h);
                    segment_starts_derived(&v.text, base_segs, &changed)
                }
                None => {
                    let masks = if i == 0 {
                        views.canonical_masks.as_ref()
                    } else {
                        None
                    };
                    self.lexicon.find(&v.text, v.boundaries, masks, &mut h);
                    if v.boundaries {
                        match masks {
                            Some(m) => segment_starts_masked(&v.text, m),
                            None => segment_starts(&v.text),
                        }
                    } else {
                        vec![0]
                    }
                }
            };
            hits.push(h);
            segments.push(segs);
        }
        Input {
            original: text,
            source,
            views,
            hits,
            segments,
            shape: std::cell::OnceCell::new(),
        }
    }

    /// For a view that is an earlier one with a few bytes replaced (a leet reading of the
    /// canonical or repaired view, line breaks inside sentences read as spaces): the scan of
    /// the nearest earlier view of the same length, the replaced ranges, and that view's
    /// segments. Hits and segments depend on the text alone, so any such pair qualifies.
    /// `None` for the first view, views without boundaries, views of a length no earlier one
    /// has, or when the replaced bytes are so many that a full pass is as cheap.
    #[allow(clippy::type_complexity)]
    fn derived_scan<'v>(
        &self,
        views: &[views::View],
        i: usize,
        hits: &'v [Vec<Hit>],
        segments: &'v [Vec<usize>],
    ) -> Option<(&'v [Hit], Vec<Range<usize>>, &'v [usize])> {
        let v = views.get(i)?;
        if i == 0 || !v.boundaries {
            return None;
        }
        let j = (0..i).rev().find(|&j| {
            views
                .get(j)
                .is_some_and(|b| b.boundaries && b.text.len() == v.text.len())
        })?;
        let base = views.get(j)?;
        let changed = replaced_ranges(base.text.as_bytes(), v.text.as_bytes(), 16)?;
        let replaced: usize = changed.iter().map(|r| r.len()).sum();
        if replaced > v.text.len() / 4 {
            return None;
        }
        Some((hits.get(j)?, changed, segments.get(j)?))
    }

    pub(crate) fn analyze(&self, text: &str, source: Source) -> Analysis {
        let input = self.prepare(text, source);
        let mut ev = Evidence::default();
        self.patterns.detect(&input, &mut ev);
        for d in &self.detectors {
            d.detect(&input, &mut ev);
        }
        let patterns = fuse::pattern_risk(&ev.scored);
        // Fusion ignores the model without pattern evidence and at or above the ceiling, so
        // running it there would cost time and change nothing (session context may still
        // raise pattern risk later; the model then has nothing to add).
        if fuse::learned_applies(patterns) {
            if let Some(d) = &self.learned {
                d.detect(&input, &mut ev);
            }
        }
        let unicode = 1.0 - ev.unicode.iter().fold(1.0, |acc, s| acc * (1.0 - s));
        Analysis {
            patterns,
            unicode,
            shape: ev.shape,
            learned: ev.learned,
            signals: ev.signals,
        }
    }

    pub(crate) fn analyze_patterns_from(
        &self,
        joined: &str,
        source: Source,
        prefix: usize,
    ) -> ContextResult {
        let input = self.prepare(joined, source);
        let mut fs = Vec::new();
        self.patterns.findings(&input, &mut fs);
        let mut scored = Vec::new();
        let mut history_only = Vec::new();
        let mut best: Option<(f64, String, Option<Range<usize>>)> = None;
        for (vi, f) in fs {
            let Some(view) = input.views.views.get(vi) else {
                continue;
            };
            let span = view.map.original(&(f.start..f.end));
            let involves_current = span.as_ref().is_some_and(|r| r.end > prefix);
            let involves_history = span.as_ref().is_some_and(|r| r.start < prefix);
            let finding = Scored {
                rule: f.rule,
                score: f.score,
                segment: f.segment.map(|s| (vi, s)),
            };
            if !involves_current {
                history_only.push(finding);
                continue;
            }
            if !involves_history {
                continue;
            }
            if best.as_ref().is_none_or(|b| f.score > b.0) {
                best = Some((f.score, f.rule.to_owned(), span));
            }
            scored.push(finding);
        }
        // Once an instruction is seen to run across the messages, what the earlier messages
        // said counts with it, as it would have in one message; without one, an old message
        // never counts against a new one.
        if !scored.is_empty() {
            scored.extend(history_only);
        }
        let risk = fuse::pattern_risk(&scored);
        let (_, rule, span) = best.unwrap_or((0.0, String::new(), None));
        ContextResult { risk, rule, span }
    }

    pub(crate) fn shape_features(&self, text: &str) -> ShapeFeatures {
        self.prepare(text, Source::Customer).shape_features()
    }

    pub(crate) fn learned_probability(&self, text: &str, source: Source) -> Option<f64> {
        let input = self.prepare(text, source);
        self.learned.as_ref()?.probability(&input)
    }

    pub(crate) fn bare_phrase_pass(&self, text: &str) -> usize {
        self.lexicon.bare_count(text)
    }
}
