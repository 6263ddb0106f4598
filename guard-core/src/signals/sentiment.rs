//! Lexicon-based sentiment of customer messages, and a per-session tracker of how it moves.
//!
//! # One message
//!
//! [`analyze`] reads a message once, left to right, and sums the valences of its tokens:
//!
//! 1. **Tokens.** The text is split on white space into chunks. A chunk that is exactly an ASCII
//!    emoticon (`:)`, `:-(`, `:D`, `<3`, ...; trailing `.,!?` ignored) scores as one token.
//!    Otherwise a chunk yields *words* (runs of letters, digits and apostrophes, `’` read as `'`),
//!    *emoji* (looked up one code point at a time; variation selectors, joiners and skin tones are
//!    skipped) and punctuation. Words are lower-cased ASCII up to 24 bytes; any other word (too
//!    long, or with a non-ASCII letter) is *opaque*: it scores 0 but still counts as a word for the
//!    scopes below. That is the non-English fallback: a French or Chinese message scores 0.
//! 2. **Valence.** A word's valence `v ∈ [-4, 4]` comes from the lexicon ([`lexicon_size`] words);
//!    failing an exact match, a trailing `'s` or plural `s` is dropped and the lookup retried.
//! 3. **Context.** The *scope* of a word is the up to [`NEGATION_SCOPE`] (= 3) words before it in
//!    the same clause; `, . ; : ! ? …`, `but` and `however` close a clause. In that scope:
//!    - each negator (`not`, `no`, `never`, `without`, any `...n't`, ...) multiplies `v` by
//!      [`NEGATION_FACTOR`] (= -0.74): "not happy" is `2.7 × -0.74 = -2.0`. A negator applies
//!      to the first valenced word (or phrase) after it only: in "never received my refund"
//!      `received` is negated and `refund` is not. Words naming a remedy (`refund`, `return`,
//!      `cancel`, `exchange`, `chargeback`) are never negated: "no refund" is not good news;
//!    - intensifiers and dampeners add their weight `b` to a factor `(1 + Σb)` clamped to
//!      `[0.1, 3]`: "very" `+0.3`, "extremely" `+0.5`, "slightly" `-0.4`, "a bit" `-0.3`.
//! 4. **Emphasis.** A word in capitals (two or more letters, no lower case) in a message that
//!    also has lower case is multiplied by [`CAPS_FACTOR`] (= 1.5); when the whole message is
//!    shouted (no lower-case letter, at least two capitalised words) every word is multiplied by
//!    [`SHOUT_FACTOR`] (= 1.25) instead.
//! 5. **Phrases** such as "thanks for nothing" (-2.6), "yeah right", "fed up", "well done" replace
//!    the valences of their words; the context of their first word applies.
//! 6. **Emoji and emoticons** add their valence unchanged: they are never negated or boosted
//!    ("not happy 😡" is angry twice, not once).
//! 7. **Contrast.** With `before` the sum up to the last `but`/`however` and `after` the sum
//!    following it, the sum is `S = 0.5·before + 1.5·after` ([`CONTRAST_BEFORE`],
//!    [`CONTRAST_AFTER`]); without a contrast word `S` is the plain sum.
//! 8. **Exclamation.** Each `!` (at most four) adds [`EXCLAMATION_STEP`] (= 0.3) to `|S|` in the
//!    direction of `S` (nothing when `S = 0`).
//! 9. **Normalisation.** `score = S / sqrt(S² + 15)`, in `(-1, 1)`.
//!
//! Worked examples (valences: arrived 1.0, broken -2.3, disappointed -2.4, received 1.0,
//! refund -0.8, nice 1.8, late -1.7, scam -3.2):
//!
//! | message | `S` | score |
//! |---|---|---|
//! | The package arrived broken. | `1.0 − 2.3 = −1.3` | `−1.3 / √16.69 = −0.318` |
//! | I am extremely disappointed | `−2.4 × 1.5 = −3.6` | `−0.681` |
//! | I never received my refund | `1.0 × −0.74 − 0.8 = −1.54` | `−0.369` |
//! | The shoes are nice but the delivery was terribly late | `0.5 × 1.8 + 1.5 × (−1.7 × 1.4) = −2.67` | `−0.568` |
//! | This is a SCAM!! | `−3.2 × 1.5 − 2 × 0.3 = −5.4` | `−0.813` |
//! | Je suis très déçu | `0` (no known word) | `0` |
//!
//! Cost: one pass for emphasis and one for scoring, both `O(len)`, with no allocation: words are
//! lower-cased into a fixed stack buffer and looked up once in a hash index of all the tables,
//! built on first use. No input panics.
//!
//! # A session
//!
//! [`SentimentTracker`] keeps an exponentially smoothed score over the customer's messages:
//! `s₁ = r₁`, `sₜ = α·rₜ + (1 − α)·sₜ₋₁` with `α =` [`DEFAULT_SMOOTHING`] (= 0.5), where `rₜ` is
//! the score of message `t`. Messages with no sentiment-bearing token (an order number, an
//! address, a message in another language) are not observed: a factual reply must not look like
//! a cooling-off. The last [`DEFAULT_WINDOW`] (= 5) smoothed values are kept and
//!
//! ```text
//! drop  = max over i < j of (s_i − s_j)          the largest fall, from any point to a later one
//! rise  = max over j of (s_j − s_(j−1))          the largest single-step climb
//! shift = max(drop, rise, 0)
//! ```
//!
//! A fall is the customer growing upset; a sudden climb is the other half of a swing: the
//! hostile-then-charming turn of someone who has found what makes the agent give in. With
//! messages scoring `0.6, 0.5, -0.7` the smoothed values are `0.6, 0.55, -0.075` and the shift is
//! `0.675`, above the default tier's 0.4. The conversation "Great, thanks!" (0.807), "Order
//! A-100" (skipped), "I never received my refund" (-0.369), "This is ridiculous, I want my money
//! back!" (-0.718) smooths to `0.807, 0.219, -0.250`: shift `1.057`.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::sync::OnceLock;

use super::lexicon::{
    Fnv, BOOSTERS, BOOSTER_PAIRS, CONTRAST, EMOJI, EMOTICONS, NEGATION_PROOF, NEGATORS, PHRASES,
    WORDS,
};

/// Words before a valenced word that a negator or booster reaches.
pub const NEGATION_SCOPE: usize = 3;
/// What one negator in scope multiplies a valence by.
pub const NEGATION_FACTOR: f64 = -0.74;
/// Multiplier for a capitalised word in a mixed-case message.
pub const CAPS_FACTOR: f64 = 1.5;
/// Multiplier for every word of a message written entirely in capitals.
pub const SHOUT_FACTOR: f64 = 1.25;
/// Weight of the sum before the last contrast word ("but", "however").
pub const CONTRAST_BEFORE: f64 = 0.5;
/// Weight of the sum after the last contrast word.
pub const CONTRAST_AFTER: f64 = 1.5;
/// Added to `|S|` per exclamation mark, for at most [`EXCLAMATION_MAX`] marks.
pub const EXCLAMATION_STEP: f64 = 0.3;
/// Exclamation marks beyond this many add nothing.
pub const EXCLAMATION_MAX: u32 = 4;
/// `α` in `score = S / sqrt(S² + α)`: the raw sum at which the score reaches about 0.5 is
/// `sqrt(α / 3) ≈ 2.2`, one strong word.
pub const NORMALIZATION_ALPHA: f64 = 15.0;
/// The default smoothing constant `α` of [`SentimentTracker`].
pub const DEFAULT_SMOOTHING: f64 = 0.5;
/// The default number of smoothed values [`SentimentTracker::shift`] looks at.
pub const DEFAULT_WINDOW: usize = 5;
/// The largest window a tracker accepts.
pub const MAX_WINDOW: usize = 32;

/// Longest word looked up; longer words are opaque. The longest lexicon entry is shorter.
const WORD_BUF: usize = 24;

/// Number of words in the lexicon (emoji and emoticons not counted).
///
/// ```
/// assert!(guard_core::signals::lexicon_size() >= 500);
/// ```
pub fn lexicon_size() -> usize {
    WORDS.len()
}

/// The sentiment of one message.
///
/// ```
/// use guard_core::signals::analyze;
/// let m = analyze("Thanks, that was quick :)");
/// assert!(m.score() > 0.5);
/// assert_eq!(m.hits(), 3);
/// assert_eq!(analyze("Order A-100, 12 Main Street").hits(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MessageSentiment {
    score: f64,
    raw: f64,
    hits: u32,
}

impl MessageSentiment {
    /// The score in `[-1, 1]`: negative is upset, positive is pleased, 0 is neutral or unknown.
    pub fn score(&self) -> f64 {
        self.score
    }

    /// The sum `S` before normalisation (after contrast weighting and exclamation).
    pub fn raw(&self) -> f64 {
        self.raw
    }

    /// How many tokens (words, phrases, emoji, emoticons) carried a valence. Zero means the
    /// message says nothing about how the customer feels.
    pub fn hits(&self) -> u32 {
        self.hits
    }
}

/// The score of one message in `[-1, 1]`; see the module documentation for the formula.
///
/// ```
/// use guard_core::signals::score_message;
/// assert!(score_message("This is a SCAM, I want my money back!!! 😡") < -0.8);
/// assert!(score_message("not happy") < 0.0);
/// assert_eq!(score_message("¿Dónde está mi pedido?"), 0.0);
/// ```
pub fn score_message(text: &str) -> f64 {
    analyze(text).score
}

/// Scores one message and reports how many tokens carried a valence.
///
/// ```
/// use guard_core::signals::analyze;
/// // "extremely" boosts by half: S = -2.4 × 1.5 = -3.6, score = S / √(S² + 15).
/// let m = analyze("I am extremely disappointed");
/// assert!((m.raw() + 3.6).abs() < 1e-9);
/// assert!((m.score() + 0.681).abs() < 1e-3);
/// ```
pub fn analyze(text: &str) -> MessageSentiment {
    let mut scorer = Scorer::new(is_shouted(text));
    for chunk in text.split_whitespace() {
        scorer.chunk(chunk);
    }
    scorer.finish()
}

/// A message is shouted when it has no lower-case letter and at least two capitalised words.
fn is_shouted(text: &str) -> bool {
    if text.chars().any(char::is_lowercase) {
        return false;
    }
    let capitalised = text
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().filter(char::is_ascii_uppercase).count() >= 2)
        .count();
    capitalised >= 2
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Nothing in scope (also an empty slot).
    Plain,
    Negator,
    Booster(f64),
}

/// A recent word, kept so a phrase ending at the current word can take over its score.
#[derive(Debug, Clone, Copy)]
struct Slot {
    key: [u8; WORD_BUF],
    len: usize,
    /// What this word added to the current segment's sum.
    contribution: f64,
    /// The negation × booster factor of the words before it.
    context: f64,
    emphasis: f64,
}

impl Slot {
    const EMPTY: Slot = Slot {
        key: [0; WORD_BUF],
        len: 0,
        contribution: 0.0,
        context: 1.0,
        emphasis: 1.0,
    };

    fn text(&self) -> &str {
        self.key
            .get(..self.len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

/// One word as read: lower-cased into a stack buffer.
struct Word {
    buf: [u8; WORD_BUF],
    len: usize,
    opaque: bool,
    upper: usize,
    lower: usize,
}

impl Word {
    fn new() -> Self {
        Self {
            buf: [0; WORD_BUF],
            len: 0,
            opaque: false,
            upper: 0,
            lower: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0 && !self.opaque
    }

    fn push(&mut self, c: char) {
        let c = if c == '’' { '\'' } else { c };
        if c.is_ascii_uppercase() {
            self.upper += 1;
        } else if c.is_ascii_lowercase() {
            self.lower += 1;
        }
        if !c.is_ascii() {
            self.opaque = true;
            return;
        }
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                // `c` is ASCII here, so the cast keeps it whole.
                *slot = c.to_ascii_lowercase() as u8;
                self.len += 1;
            }
            None => self.opaque = true,
        }
    }

    /// The lookup key: the lower-cased word without leading or trailing apostrophes.
    fn key(&self) -> &str {
        if self.opaque {
            return "";
        }
        let bytes = self.buf.get(..self.len).unwrap_or(&[]);
        std::str::from_utf8(bytes).unwrap_or("").trim_matches('\'')
    }

    fn is_caps(&self) -> bool {
        self.upper >= 2 && self.lower == 0
    }
}

struct Scorer {
    shouted: bool,
    /// Kinds of the last [`NEGATION_SCOPE`] words of the clause, most recent first.
    scope: [Kind; NEGATION_SCOPE],
    /// The last two words of the clause, most recent first.
    recent: [Slot; 2],
    before: f64,
    after: f64,
    contrasted: bool,
    bangs: u32,
    hits: u32,
}

impl Scorer {
    fn new(shouted: bool) -> Self {
        Self {
            shouted,
            scope: [Kind::Plain; NEGATION_SCOPE],
            recent: [Slot::EMPTY; 2],
            before: 0.0,
            after: 0.0,
            contrasted: false,
            bangs: 0,
            hits: 0,
        }
    }

    fn chunk(&mut self, chunk: &str) {
        self.bangs = self
            .bangs
            .saturating_add(u32::try_from(chunk.matches('!').count()).unwrap_or(u32::MAX));
        let bare = chunk.trim_end_matches(['.', ',', '!', '?']);
        // Emoticons are two to four bytes: most chunks skip the table.
        let maybe_emoticon = (2..=4).contains(&bare.len());
        if let Some((_, v)) = EMOTICONS.iter().find(|(e, _)| maybe_emoticon && *e == bare) {
            self.add_symbol(*v);
            if bare.len() != chunk.len() {
                self.close_clause();
            }
            return;
        }
        let mut word = Word::new();
        for c in chunk.chars() {
            if c.is_alphanumeric() || c == '\'' || c == '’' {
                word.push(c);
                continue;
            }
            if !word.is_empty() {
                self.word(&word);
                word = Word::new();
            }
            if matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '…') {
                self.close_clause();
            } else if let Ok(i) = EMOJI.binary_search_by(|(e, _)| e.cmp(&c)) {
                if let Some((_, v)) = EMOJI.get(i) {
                    self.add_symbol(*v);
                }
            }
        }
        if !word.is_empty() {
            self.word(&word);
        }
    }

    fn add_symbol(&mut self, v: f64) {
        self.after += v;
        self.hits = self.hits.saturating_add(1);
    }

    fn close_clause(&mut self) {
        self.scope = [Kind::Plain; NEGATION_SCOPE];
        self.recent = [Slot::EMPTY; 2];
    }

    fn push_scope(&mut self, kind: Kind) {
        let [a, b, _] = self.scope;
        self.scope = [kind, a, b];
    }

    fn push_recent(&mut self, slot: Slot) {
        let [a, _] = self.recent;
        self.recent = [slot, a];
    }

    /// A negator flips the first valenced word after it and no more: in "never received my
    /// refund" the refund is not un-negative.
    fn spend_negators(&mut self) {
        for kind in &mut self.scope {
            if *kind == Kind::Negator {
                *kind = Kind::Plain;
            }
        }
    }

    /// The negation × booster factor the current scope applies to the next word.
    fn context(&self) -> f64 {
        let negators = self.scope.iter().filter(|k| **k == Kind::Negator).count();
        let negation = (0..negators).fold(1.0, |acc, _| acc * NEGATION_FACTOR);
        negation * self.boost()
    }

    /// The booster factor `1 + Σb` of the current scope, clamped to `[0.1, 3]`.
    fn boost(&self) -> f64 {
        let sum: f64 = self
            .scope
            .iter()
            .map(|k| match k {
                Kind::Booster(b) => *b,
                _ => 0.0,
            })
            .sum();
        f64::clamp(1.0 + sum, 0.1, 3.0)
    }

    fn word(&mut self, word: &Word) {
        let key = word.key();
        let emphasis = if self.shouted {
            SHOUT_FACTOR
        } else if word.is_caps() {
            CAPS_FACTOR
        } else {
            1.0
        };
        let context = self.context();
        let mut slot = Slot {
            len: 0,
            contribution: 0.0,
            context,
            emphasis,
            ..Slot::EMPTY
        };
        if let Some(dst) = slot.key.get_mut(..key.len()) {
            dst.copy_from_slice(key.as_bytes());
            slot.len = key.len();
        }

        let info = info(key);
        let phrase = if info.phrase_end {
            self.phrase(key, slot)
        } else {
            None
        };
        if let Some(consumed) = phrase {
            // The phrase's words no longer negate or boost what follows.
            for kind in self.scope.iter_mut().take(consumed) {
                *kind = Kind::Plain;
            }
            self.spend_negators();
            return;
        }
        if key.is_empty() {
            self.push_scope(Kind::Plain);
            self.push_recent(slot);
            return;
        }
        if info.contrast {
            self.before += self.after;
            self.after = 0.0;
            self.contrasted = true;
            self.close_clause();
            return;
        }
        let kind = if info.negator || key.ends_with("n't") {
            Kind::Negator
        } else if let Some(b) = self.booster(key, &info) {
            Kind::Booster(b)
        } else {
            if let Some(v) = valence(key, &info) {
                if info.negation_proof {
                    slot.contribution = v * self.boost() * emphasis;
                } else {
                    slot.contribution = v * context * emphasis;
                    self.spend_negators();
                }
                self.after += slot.contribution;
                self.hits = self.hits.saturating_add(1);
            }
            Kind::Plain
        };
        self.push_scope(kind);
        self.push_recent(slot);
    }

    fn booster(&self, key: &str, info: &Info) -> Option<f64> {
        if info.booster.is_some() || !info.pair_end {
            return info.booster;
        }
        let [prev, _] = &self.recent;
        let prev = prev.text();
        BOOSTER_PAIRS
            .iter()
            .find(|(a, b, _)| *b == key && *a == prev)
            .map(|(_, _, v)| *v)
    }

    /// Scores a phrase ending at `key`, if one does; returns how many earlier words it took in.
    fn phrase(&mut self, key: &str, mut slot: Slot) -> Option<usize> {
        if key.is_empty() {
            return None;
        }
        let [p1, p2] = self.recent;
        let (t1, t2) = (p1.text(), p2.text());
        // Longer phrases first: "not as described" before "as described".
        let three = PHRASES.iter().find_map(|(words, v)| match words {
            [a, b, c] if *c == key && *b == t1 && *a == t2 => Some((*v, p2, 2)),
            _ => None,
        });
        let two = || {
            PHRASES.iter().find_map(|(words, v)| match words {
                [a, b] if *b == key && *a == t1 => Some((*v, p1, 1)),
                _ => None,
            })
        };
        if let Some((v, first, consumed)) = three.or_else(two) {
            let taken = if consumed == 2 {
                p1.contribution + p2.contribution
            } else {
                p1.contribution
            };
            let emphasis = [first.emphasis, p1.emphasis, slot.emphasis]
                .into_iter()
                .fold(1.0, f64::max);
            slot.contribution = v * first.context * emphasis;
            self.after += slot.contribution - taken;
            // The words' own hits are replaced by the phrase's one.
            let had = [p1, p2]
                .iter()
                .take(consumed)
                .filter(|s| s.contribution != 0.0)
                .count();
            self.hits = self
                .hits
                .saturating_sub(u32::try_from(had).unwrap_or(0))
                .saturating_add(1);
            self.push_scope(Kind::Plain);
            self.recent = [slot, Slot::EMPTY];
            return Some(consumed + 1);
        }
        None
    }

    fn finish(self) -> MessageSentiment {
        let mut sum = if self.contrasted {
            CONTRAST_BEFORE * self.before + CONTRAST_AFTER * self.after
        } else {
            self.after
        };
        if sum != 0.0 {
            let marks = f64::from(self.bangs.min(EXCLAMATION_MAX));
            sum += sum.signum() * EXCLAMATION_STEP * marks;
        }
        let score = if sum.is_finite() {
            (sum / (sum * sum + NORMALIZATION_ALPHA).sqrt()).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let score = if score.is_nan() { 0.0 } else { score };
        MessageSentiment {
            score,
            raw: if sum.is_finite() { sum } else { 0.0 },
            hits: self.hits,
        }
    }
}

/// Everything the tables say about one word, so each word costs one hash lookup instead of a
/// binary search per table.
#[derive(Debug, Clone, Copy, Default)]
struct Info {
    valence: Option<f64>,
    negator: bool,
    booster: Option<f64>,
    contrast: bool,
    negation_proof: bool,
    /// Last word of some phrase: only then are the phrases scanned.
    phrase_end: bool,
    /// Second word of some booster pair.
    pair_end: bool,
}

type Index = HashMap<&'static str, Info, BuildHasherDefault<Fnv>>;

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut map = Index::default();
        for (w, v) in WORDS {
            map.entry(w).or_default().valence = Some(*v);
        }
        for w in NEGATORS {
            map.entry(w).or_default().negator = true;
        }
        for (w, b) in BOOSTERS {
            map.entry(w).or_default().booster = Some(*b);
        }
        for w in CONTRAST {
            map.entry(w).or_default().contrast = true;
        }
        for w in NEGATION_PROOF {
            map.entry(w).or_default().negation_proof = true;
        }
        for (words, _) in PHRASES {
            if let Some(last) = words.last() {
                map.entry(last).or_default().phrase_end = true;
            }
        }
        for (_, second, _) in BOOSTER_PAIRS {
            map.entry(second).or_default().pair_end = true;
        }
        map
    })
}

fn info(key: &str) -> Info {
    index().get(key).copied().unwrap_or_default()
}

/// The valence of a word, retrying without a possessive or plural `s`.
fn valence(key: &str, info: &Info) -> Option<f64> {
    if info.valence.is_some() {
        return info.valence;
    }
    let stem = key
        .strip_suffix("'s")
        .or_else(|| key.strip_suffix('s').filter(|s| s.len() >= 3))?;
    index().get(stem).and_then(|i| i.valence)
}

/// The sentiment of one session's customer messages, smoothed, with the shift the check looks
/// at. The caller keeps one per session and feeds it every customer message in order.
///
/// ```
/// use guard_core::signals::SentimentTracker;
/// let mut t = SentimentTracker::new();
/// t.observe("Hi! Thanks so much, you've been really helpful.");
/// t.observe("Order A-100 please"); // no sentiment: not observed
/// t.observe("Wait, the refund failed AGAIN? This is ridiculous, you are useless.");
/// assert!(t.shift() > 0.4, "shift {}", t.shift());
/// assert_eq!(t.observed(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SentimentTracker {
    smoothing: f64,
    window: usize,
    smoothed: VecDeque<f64>,
    observed: u64,
}

impl Default for SentimentTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl SentimentTracker {
    /// A tracker with [`DEFAULT_SMOOTHING`] and [`DEFAULT_WINDOW`].
    pub fn new() -> Self {
        Self::with_params(DEFAULT_SMOOTHING, DEFAULT_WINDOW)
    }

    /// A tracker with smoothing constant `smoothing` (clamped to `[0.05, 1]`; NaN means the
    /// default; 1 is no smoothing) and a window of `window` smoothed values (clamped to
    /// `2..=MAX_WINDOW`).
    ///
    /// ```
    /// use guard_core::signals::SentimentTracker;
    /// let mut t = SentimentTracker::with_params(1.0, 3);
    /// t.observe_score(0.5);
    /// t.observe_score(-0.5);
    /// assert!((t.shift() - 1.0).abs() < 1e-9);
    /// ```
    pub fn with_params(smoothing: f64, window: usize) -> Self {
        let smoothing = if smoothing.is_nan() {
            DEFAULT_SMOOTHING
        } else {
            smoothing.clamp(0.05, 1.0)
        };
        let window = window.clamp(2, MAX_WINDOW);
        Self {
            smoothing,
            window,
            smoothed: VecDeque::with_capacity(window),
            observed: 0,
        }
    }

    /// Scores a customer message and folds it in; returns the smoothed score afterwards (0
    /// before any message with sentiment). A message without any valenced token is skipped.
    ///
    /// ```
    /// use guard_core::signals::SentimentTracker;
    /// let mut t = SentimentTracker::new();
    /// let first = t.observe("Great, thanks!");
    /// assert!(first > 0.8);
    /// assert_eq!(t.observe("My order is A-100"), first); // nothing to observe
    /// assert!(t.observe("This is ridiculous") < first);
    /// ```
    pub fn observe(&mut self, text: &str) -> f64 {
        let m = analyze(text);
        if m.hits() == 0 {
            return self.score();
        }
        self.observe_score(m.score())
    }

    /// Folds in an already computed message score (clamped to `[-1, 1]`; NaN is ignored).
    pub fn observe_score(&mut self, score: f64) -> f64 {
        if score.is_nan() {
            return self.score();
        }
        let r = score.clamp(-1.0, 1.0);
        let s = match self.smoothed.back() {
            Some(prev) => self.smoothing * r + (1.0 - self.smoothing) * prev,
            None => r,
        };
        if self.smoothed.len() >= self.window {
            self.smoothed.pop_front();
        }
        self.smoothed.push_back(s);
        self.observed = self.observed.saturating_add(1);
        s
    }

    /// The current smoothed score, 0 before any message with sentiment.
    pub fn score(&self) -> f64 {
        self.smoothed.back().copied().unwrap_or(0.0)
    }

    /// How many messages have been folded in (messages without sentiment not counted).
    pub fn observed(&self) -> u64 {
        self.observed
    }

    /// The smoothed values in the window, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = f64> + '_ {
        self.smoothed.iter().copied()
    }

    /// `max(drop, rise, 0)` over the window: `drop` is the largest fall of the smoothed score
    /// from any value to a later one, `rise` the largest climb between consecutive values. In
    /// `[0, 2]`; 0 with fewer than two values.
    ///
    /// ```
    /// use guard_core::signals::SentimentTracker;
    /// let mut t = SentimentTracker::new();
    /// for r in [0.6, 0.5, -0.7] {
    ///     t.observe_score(r); // smoothed: 0.6, 0.55, -0.075
    /// }
    /// assert!((t.shift() - 0.675).abs() < 1e-9);
    /// ```
    pub fn shift(&self) -> f64 {
        let mut peak = f64::NEG_INFINITY;
        let mut prev: Option<f64> = None;
        let mut shift: f64 = 0.0;
        for s in self.smoothed.iter().copied() {
            shift = shift.max(peak - s);
            if let Some(p) = prev {
                shift = shift.max(s - p);
            }
            peak = peak.max(s);
            prev = Some(s);
        }
        shift
    }

    /// Whether [`shift`](Self::shift) is strictly above `threshold` (a fraction such as
    /// `Ratio::as_f64()` of the blueprint's `sentiment_shift_threshold`).
    pub fn shift_exceeds(&self, threshold: f64) -> bool {
        self.shift() > threshold
    }

    /// Forgets every message (a new conversation in the same session object).
    pub fn reset(&mut self) {
        self.smoothed.clear();
        self.observed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// `(message, lowest, highest)` score, inclusive.
    #[rustfmt::skip]
    const CASES: &[(&str, f64, f64)] = &[
        // angry
        ("This is the WORST service ever, you people are useless and I want my money back!!!", -1.0, -0.9),
        ("I've been waiting 3 weeks and the package never arrived. Unacceptable.", -1.0, -0.6),
        ("Your courier smashed the box and nobody answers my emails. Disgraceful.", -1.0, -0.6),
        ("scammers", -1.0, -0.6),
        // polite
        ("Thank you so much for your help, really appreciate it!", 0.7, 1.0),
        ("Great, the replacement arrived today and works perfectly. Thanks!", 0.8, 1.0),
        ("That was quick, cheers", 0.4, 0.8),
        // neutral, factual
        ("Hi, could you check the status of order A-100 please?", 0.0, 0.0),
        ("My new address is 12 High Street, Leeds", 0.0, 0.0),
        // sarcastic-ish: only fixed phrases are caught
        ("Oh great, another delay. Thanks for nothing.", -1.0, -0.6),
        ("Yeah right, like that's going to happen", -0.6, -0.2),
        ("Well done, you lost my parcel AGAIN", -0.3, 0.3),
        // negated
        ("I am not happy with this", -0.6, -0.3),
        ("I never received my refund", -0.6, -0.3),
        ("The item is not damaged, don't worry", 0.3, 0.7),
        ("not bad at all", 0.3, 0.6),
        ("I don’t love it", -0.6, -0.3),
        // mixed: the clause after "but" weighs more
        ("The shoes are nice but the delivery was terribly late", -0.7, -0.4),
        ("The delivery was late but the support team was amazing", 0.6, 0.9),
        // other languages fall back to neutral
        ("Je suis très déçu, remboursez-moi immédiatement", 0.0, 0.0),
        ("¿Dónde está mi pedido? Llevo dos semanas esperando", 0.0, 0.0),
        ("Das Paket ist nicht angekommen, sehr schlecht", 0.0, 0.0),
        ("我的包裹还没到，太糟糕了", 0.0, 0.0),
        ("荷物が届きません", 0.0, 0.0),
        // emoji and emoticons
        ("😡😡😡", -1.0, -0.9),
        ("🙏🙏 thanks ❤️", 0.8, 1.0),
        ("ok 👍🏽", 0.3, 0.6),
        ("still nothing :(", -0.5, -0.3),
        ("thanks :)", 0.6, 0.8),
        ("ok...  🙄", -0.4, 0.0),
    ];

    #[test]
    fn scores_written_messages() {
        let mut failures = Vec::new();
        for (text, lo, hi) in CASES {
            let s = score_message(text);
            if !(*lo..=*hi).contains(&s) {
                failures.push(format!("{text:?}: {s:.3} not in [{lo}, {hi}]"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn formula_pieces_have_their_documented_values() {
        // `(message, raw sum S)`: valences happy 2.7, late -1.7, scam -3.2, disappointed -2.4.
        let cases: &[(&str, f64)] = &[
            ("happy", 2.7),
            ("not happy", 2.7 * NEGATION_FACTOR),
            ("never ever happy", 2.7 * NEGATION_FACTOR),
            ("not at all happy", 2.7 * NEGATION_FACTOR),
            // the negator is four words back: out of scope
            ("not that I am happy", 2.7),
            // a comma closes the clause
            ("no, happy", 2.7),
            ("not not happy", 2.7 * NEGATION_FACTOR * NEGATION_FACTOR),
            ("very happy", 2.7 * 1.3),
            ("extremely happy", 2.7 * 1.5),
            ("slightly disappointed", -2.4 * 0.6),
            ("a bit late", -1.7 * 0.7),
            ("kind of late", -1.7 * 0.7),
            ("not very happy", 2.7 * 1.3 * NEGATION_FACTOR),
            ("it is a SCAM", -3.2 * CAPS_FACTOR),
            ("IT IS A SCAM", -3.2 * SHOUT_FACTOR),
            ("happy!", 2.7 + EXCLAMATION_STEP),
            ("happy!!!!!!!!", 2.7 + EXCLAMATION_STEP * 4.0),
            ("scam!!", -3.2 - 2.0 * EXCLAMATION_STEP),
            ("happy but late", 0.5 * 2.7 + 1.5 * -1.7),
            ("late but happy", 0.5 * -1.7 + 1.5 * 2.7),
            ("late however happy", 0.5 * -1.7 + 1.5 * 2.7),
            // emoji are not negated
            ("not 😡", -3.2),
            ("😡 not", -3.2),
            ("scams", -3.2),
            ("thanks for nothing", -2.6),
            ("not as described", -2.2),
            ("as described", 1.5),
            ("not thanks for nothing", -2.6 * NEGATION_FACTOR),
            // the phrase's negator no longer reaches past it
            ("no thanks happy", -0.6 + 2.7),
            // a negator is spent on the first valenced word
            ("never received my refund", 1.0 * NEGATION_FACTOR - 0.8),
            // a remedy keeps its sign: no refund is not good news
            ("no refund", -0.8),
            ("didn't get a refund", -0.8),
            ("no response", -1.8),
            ("not happy or satisfied", 2.7 * NEGATION_FACTOR + 2.1),
            // the module documentation's examples
            ("The package arrived broken.", 1.0 - 2.3),
            ("I am extremely disappointed", -2.4 * 1.5),
            (
                "The shoes are nice but the delivery was terribly late",
                0.5 * 1.8 + 1.5 * (-1.7 * 1.4),
            ),
            ("This is a SCAM!!", -3.2 * 1.5 - 2.0 * 0.3),
            ("not happy 😡", 2.7 * NEGATION_FACTOR - 3.2),
            ("Je suis très déçu, remboursez-moi", 0.0),
        ];
        for (text, raw) in cases {
            let m = analyze(text);
            assert!(
                close(m.raw(), *raw),
                "{text:?}: S = {} expected {raw}",
                m.raw()
            );
            let expected = raw / (raw * raw + NORMALIZATION_ALPHA).sqrt();
            assert!(
                close(m.score(), expected),
                "{text:?}: {} vs {expected}",
                m.score()
            );
        }
    }

    #[test]
    fn mechanisms_move_the_score_the_right_way() {
        let s = score_message;
        assert!(s("extremely disappointed") < s("disappointed"));
        assert!(s("disappointed") < s("slightly disappointed"));
        assert!(s("slightly disappointed") < 0.0);
        assert!(s("I want a REFUND") < s("I want a refund"));
        assert!(s("thanks!!") > s("thanks"));
        assert!(s("thanks for nothing") < 0.0 && s("thanks") > 0.0);
        assert!(s("good but broken") < 0.0 && s("broken but good") > 0.0);
        assert!(s("never received") < 0.0 && s("received") > 0.0);
    }

    #[test]
    fn every_emoticon_is_recognised() {
        for (e, v) in EMOTICONS {
            assert_eq!(analyze(e).raw(), *v, "{e}");
            assert_eq!(analyze(&format!("{e}.")).raw(), *v, "{e}.");
        }
    }

    #[test]
    fn hits_count_sentiment_bearing_tokens() {
        let cases: &[(&str, u32)] = &[
            ("", 0),
            ("order A-100, 2 items", 0),
            ("thanks", 1),
            ("thanks for nothing", 1),
            ("thank you :) 👍", 3),
            ("very very", 0),
            ("Straße", 0),
        ];
        for (text, hits) in cases {
            assert_eq!(analyze(text).hits(), *hits, "{text:?}");
        }
    }

    #[test]
    fn odd_input_is_neutral_and_bounded() {
        let long_word = "a".repeat(10_000);
        let cases = [
            "",
            " \t\n",
            "!!!!!!!!!!!",
            "\u{FE0F}\u{200D}\u{1F3FD}",
            "\u{0}\u{1}\u{7F}",
            "e\u{301}\u{301}\u{301}",
            "\u{202E}yppah",
            long_word.as_str(),
            "'''",
            "n't",
        ];
        for text in cases {
            let m = analyze(text);
            assert_eq!(m.score(), 0.0, "{text:?}");
        }
        let many = "terrible ".repeat(100_000);
        let s = score_message(&many);
        assert!((-1.0..-0.999).contains(&s), "{s}");
    }

    proptest! {
        #[test]
        fn any_text_scores_in_range(text in any::<String>()) {
            let m = analyze(&text);
            prop_assert!(m.score().is_finite());
            prop_assert!((-1.0..=1.0).contains(&m.score()));
        }

        #[test]
        fn shift_stays_in_range(scores in proptest::collection::vec(-5.0f64..5.0, 0..40)) {
            let mut t = SentimentTracker::new();
            for s in scores {
                let v = t.observe_score(s);
                prop_assert!((-1.0..=1.0).contains(&v));
            }
            prop_assert!((0.0..=2.0).contains(&t.shift()));
            prop_assert!(t.recent().count() <= DEFAULT_WINDOW);
        }
    }

    #[test]
    fn tracker_smooths_exponentially() {
        let mut t = SentimentTracker::new();
        assert_eq!(t.score(), 0.0);
        assert_eq!(t.shift(), 0.0);
        assert!(close(t.observe_score(0.6), 0.6));
        assert!(close(t.observe_score(0.5), 0.55));
        assert!(close(t.observe_score(-0.7), -0.075));
        assert!(close(t.shift(), 0.675), "{}", t.shift());
        assert!(t.shift_exceeds(0.4));
        assert!(!t.shift_exceeds(0.7));
    }

    /// `(raw scores, expected shift)` with the default tracker.
    #[test]
    fn shift_is_largest_fall_or_single_step_rise() {
        let cases: &[(&[f64], f64)] = &[
            (&[], 0.0),
            (&[0.9], 0.0),
            // steady, slightly varying: s = 0.5, 0.475, 0.4875, 0.44375
            (&[0.5, 0.45, 0.5, 0.4], 0.5 - 0.44375),
            // gradual decline: s = 0.8, 0.6, 0.3, -0.05; each step small, the fall large
            (&[0.8, 0.4, 0.0, -0.4], 0.85),
            // the hostile-then-charming turn: s = -0.8, 0.0
            (&[-0.8, 0.8], 0.8),
            // angry all along: s = -0.9, -0.85, -0.875, -0.8625
            (&[-0.9, -0.8, -0.9, -0.85], 0.05),
        ];
        for (scores, expected) in cases {
            let mut t = SentimentTracker::new();
            for s in *scores {
                t.observe_score(*s);
            }
            assert!(
                close(t.shift(), *expected),
                "{scores:?}: {} expected {expected}",
                t.shift()
            );
        }
    }

    #[test]
    fn conversation_from_the_docs() {
        let mut t = SentimentTracker::new();
        let steps = [
            ("Great, thanks!", 0.8074),
            ("Order A-100", 0.8074),
            ("I never received my refund", 0.2190),
            ("This is ridiculous, I want my money back!", -0.2497),
        ];
        for (text, smoothed) in steps {
            let s = t.observe(text);
            assert!((s - smoothed).abs() < 5e-4, "{text}: {s}");
        }
        assert_eq!(t.observed(), 3);
        assert!((t.shift() - 1.0571).abs() < 5e-4, "{}", t.shift());
    }

    #[test]
    fn window_forgets_old_messages() {
        let mut t = SentimentTracker::with_params(1.0, 3);
        t.observe_score(1.0);
        t.observe_score(-1.0);
        assert!(close(t.shift(), 2.0));
        for _ in 0..3 {
            t.observe_score(-1.0);
        }
        assert_eq!(t.recent().count(), 3);
        assert_eq!(t.shift(), 0.0);
        assert_eq!(t.observed(), 5);
        t.reset();
        assert_eq!((t.observed(), t.score(), t.shift()), (0, 0.0, 0.0));
    }

    #[test]
    fn parameters_are_clamped() {
        let t = SentimentTracker::with_params(f64::NAN, 0);
        assert_eq!((t.smoothing, t.window), (DEFAULT_SMOOTHING, 2));
        let t = SentimentTracker::with_params(7.0, 10_000);
        assert_eq!((t.smoothing, t.window), (1.0, MAX_WINDOW));
        let mut t = SentimentTracker::new();
        t.observe_score(f64::NAN);
        assert_eq!(t.observed(), 0);
        assert_eq!(t.observe_score(f64::INFINITY), 1.0);
    }

    #[test]
    fn conversations() {
        let run = |messages: &[&str]| {
            let mut t = SentimentTracker::new();
            for m in messages {
                t.observe(m);
            }
            t.shift()
        };
        let turned_angry = run(&[
            "Hi! Thanks for getting back to me so quickly.",
            "Great, that sounds good.",
            "What? You're refusing the refund? This is a joke, you are useless!!",
        ]);
        assert!(turned_angry > 0.4, "{turned_angry}");
        let polite_throughout = run(&[
            "Hello, my order arrived damaged, could you help?",
            "Thanks, I've sent the photos.",
            "Perfect, thank you so much!",
        ]);
        assert!(polite_throughout <= 0.4, "{polite_throughout}");
        let angry_throughout = run(&[
            "This is a scam, the parcel is lost AGAIN!",
            "Useless. Absolutely useless.",
            "I am furious, refund me now!!!",
        ]);
        assert!(angry_throughout <= 0.4, "{angry_throughout}");
        // Factual replies are not observed, so they do not look like a cooling-off.
        let with_facts = run(&[
            "Thanks so much, you've been wonderful!",
            "Order A-100",
            "12 High Street, Leeds LS1 4AB",
            "The email is jo@example.com",
        ]);
        assert_eq!(with_facts, 0.0);
    }
}
