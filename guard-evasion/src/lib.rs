//! Deterministic evasion transforms: how an attacker rewrites an injection so a scanner misses
//! it while the model still reads it. Shared by `guard eval --transform` and the evasion test,
//! and kept out of guard-core so its public API does not grow a test harness.
//!
//! Every transform is seeded from the row id, so a row always gets the same rewrite and a
//! measured rate is reproducible. Transforms compose in one canonical order (character tricks,
//! then layout, then wrappers that hide the whole text, then the split across messages), so
//! `a+b` and `b+a` mean the same thing.

mod rng;
mod transforms;

use guard_core::{Scanner, Source};

pub use rng::SplitMix64;

/// One test case after transformation: a message, and the earlier messages of its session
/// (oldest first; empty unless the text was split across messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Earlier messages of the same session, oldest first.
    pub history: Vec<String>,
    /// The message being scanned.
    pub message: String,
}

impl Sample {
    /// One message with no history.
    pub fn single(text: impl Into<String>) -> Self {
        Self {
            history: Vec::new(),
            message: text.into(),
        }
    }
}

/// An evasion transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transform {
    /// Letters flipped to upper or lower case at random.
    RandomCase,
    /// Letters replaced by digits and symbols (`1gn0r3`).
    Leetspeak,
    /// Latin letters replaced by Cyrillic and Greek look-alikes.
    Homoglyph,
    /// Every ASCII character replaced by its fullwidth form.
    Fullwidth,
    /// Zero-width characters inserted inside words.
    ZeroWidth,
    /// A space between every letter (`i g n o r e`).
    LetterSpacing,
    /// Emoji inserted between words.
    Emoji,
    /// Line breaks inserted between words.
    LineSplit,
    /// The text base64-encoded inside a request to decode it and follow it.
    Base64,
    /// The text hidden in an HTML or markdown comment behind an innocuous message.
    CommentHide,
    /// The text spelled in invisible Unicode tag characters behind an innocuous message.
    TagSmuggle,
    /// The text cut in two and sent as two messages of one session.
    SplitSession,
}

impl Transform {
    /// Every transform, in the order they compose.
    pub const ALL: [Transform; 12] = [
        Transform::RandomCase,
        Transform::Leetspeak,
        Transform::Homoglyph,
        Transform::Fullwidth,
        Transform::ZeroWidth,
        Transform::LetterSpacing,
        Transform::Emoji,
        Transform::LineSplit,
        Transform::Base64,
        Transform::CommentHide,
        Transform::TagSmuggle,
        Transform::SplitSession,
    ];

    /// Transforms that keep a benign message benign to a human reader, so the scanner must not
    /// start blocking it: the false-positive bound applies to these.
    pub const BENIGN_PRESERVING: [Transform; 3] = [
        Transform::Emoji,
        Transform::RandomCase,
        Transform::LineSplit,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Transform::RandomCase => "random_case",
            Transform::Leetspeak => "leetspeak",
            Transform::Homoglyph => "homoglyph",
            Transform::Fullwidth => "fullwidth",
            Transform::ZeroWidth => "zero_width",
            Transform::LetterSpacing => "letter_spacing",
            Transform::Emoji => "emoji",
            Transform::LineSplit => "line_split",
            Transform::Base64 => "base64",
            Transform::CommentHide => "comment_hide",
            Transform::TagSmuggle => "tag_smuggle",
            Transform::SplitSession => "split_session",
        }
    }

    /// The transform called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether the transform only changes characters or layout inside the text (as opposed
    /// to wrapping or encoding the whole text).
    fn in_text(self) -> bool {
        self < Transform::Base64
    }

    /// Whether its output is plain ASCII when its input is.
    fn keeps_ascii(self) -> bool {
        matches!(
            self,
            Transform::RandomCase
                | Transform::Leetspeak
                | Transform::LetterSpacing
                | Transform::LineSplit
                | Transform::Base64
                | Transform::CommentHide
        )
    }

    fn salt(self) -> u64 {
        (self as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

/// Why two transforms do not make a meaningful pair, or `None` when they do.
pub fn pair_skip_reason(a: Transform, b: Transform) -> Option<&'static str> {
    use Transform::{Base64, CommentHide, SplitSession, TagSmuggle};
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    if a == b {
        return Some("a transform paired with itself is the transform alone");
    }
    match (a, b) {
        (Base64 | TagSmuggle, SplitSession) => Some(
            "an encoded payload cut in two decodes to neither half; no reader, model or scanner, \
             reassembles encoded fragments across messages",
        ),
        (CommentHide, TagSmuggle) => Some(
            "both hide the whole payload from view; tag characters inside a comment hide nothing more",
        ),
        (t, TagSmuggle) if !t.keeps_ascii() => Some(
            "tag characters spell only ASCII; a non-ASCII obfuscation cannot be carried inside them",
        ),
        _ => None,
    }
}

/// Every meaningful pair, in canonical order.
pub fn meaningful_pairs() -> Vec<(Transform, Transform)> {
    let mut out = Vec::new();
    for (i, &a) in Transform::ALL.iter().enumerate() {
        for &b in Transform::ALL.iter().skip(i + 1) {
            if pair_skip_reason(a, b).is_none() {
                out.push((a, b));
            }
        }
    }
    out
}

/// Every skipped pair with the reason.
pub fn skipped_pairs() -> Vec<(Transform, Transform, &'static str)> {
    let mut out = Vec::new();
    for (i, &a) in Transform::ALL.iter().enumerate() {
        for &b in Transform::ALL.iter().skip(i + 1) {
            if let Some(why) = pair_skip_reason(a, b) {
                out.push((a, b, why));
            }
        }
    }
    out
}

/// A composition of transforms, written `a+b` on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain(Vec<Transform>);

impl Chain {
    /// The transforms in the order they apply.
    pub fn transforms(&self) -> &[Transform] {
        &self.0
    }

    /// Builds a chain from transforms in any order; rejects repeats and pairs that make no
    /// sense, with the reason.
    pub fn new(mut transforms: Vec<Transform>) -> Result<Self, String> {
        transforms.sort();
        for (i, &a) in transforms.iter().enumerate() {
            for &b in transforms.iter().skip(i + 1) {
                if let Some(why) = pair_skip_reason(a, b) {
                    return Err(format!("{} + {}: {why}", a.name(), b.name()));
                }
            }
        }
        Ok(Self(transforms))
    }

    /// Parses `name` or `name+name+...`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut ts = Vec::new();
        for part in spec.split('+') {
            let part = part.trim();
            match Transform::from_name(part) {
                Some(t) => ts.push(t),
                None => {
                    return Err(format!(
                        "unknown transform {part:?}; known: {}",
                        names().join(", ")
                    ))
                }
            }
        }
        Self::new(ts)
    }

    /// `a+b` as on the command line.
    pub fn name(&self) -> String {
        if self.0.is_empty() {
            return "plain".into();
        }
        self.0
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join("+")
    }

    /// Applies the chain to `text`, seeded by the row's `id`.
    pub fn apply(&self, id: &str, text: &str) -> Sample {
        let base = rng::fnv1a(id);
        let mut sample = Sample::single(text);
        for &t in &self.0 {
            let mut rng = SplitMix64::new(base ^ t.salt());
            sample = if t.in_text() {
                Sample {
                    history: sample
                        .history
                        .iter()
                        .map(|h| transforms::in_text(t, h, &mut rng))
                        .collect(),
                    message: transforms::in_text(t, &sample.message, &mut rng),
                }
            } else {
                transforms::wrap(t, sample, &mut rng)
            };
        }
        sample
    }
}

/// The names of every transform, for help texts and errors.
pub fn names() -> Vec<&'static str> {
    Transform::ALL.iter().map(|t| t.name()).collect()
}

/// Whether a session carrying `sample` is stopped: some message of it is blocked when scanned
/// as `Guard::scan_message` scans it, alone and after the messages before it. A blocked first
/// half stops the attack too, because the model never sees it.
pub fn blocked(scanner: &Scanner, sample: &Sample, source: Source) -> bool {
    let mut history: Vec<&str> = Vec::with_capacity(sample.history.len());
    for h in &sample.history {
        if scanner.scan_in_context(h, &history, source).blocked() {
            return true;
        }
        history.push(h);
    }
    scanner
        .scan_in_context(&sample.message, &history, source)
        .blocked()
}
