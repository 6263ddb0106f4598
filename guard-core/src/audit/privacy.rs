//! Pseudonyms for identifiers and masking for free text.
//!
//! Identifiers become `p_` + the first 128 bits of HMAC-SHA256(key, value) in hex: the same
//! customer is the same pseudonym in every event written with the same key (so rolling totals,
//! isolation and trust history can still be followed), while the value itself cannot be read
//! back or confirmed without the key. HMAC-SHA256 rather than an in-house keyed hash because it
//! is the standard PRF for this, the `sha2` crate is maintained and uses SHA-NI where present,
//! and a bare hash of a low-entropy id (an order number, a phone) would be reversed by brute
//! force in seconds.
//!
//! Free text is masked *in place, byte for byte*: every masked byte becomes `*`. The text keeps
//! its length and every char boundary outside a masked run, so a signal's span (half-open UTF-8
//! byte offsets into the original) still points at the same words in the redacted text and
//! never has to be dropped. The price is that the length of a masked run is visible.

use std::fmt;
use std::sync::OnceLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use super::AuditError;

/// The 32-byte key behind pseudonyms. Keep it as secret as the data: with it, anyone can
/// confirm a guess ("is `p_3fa…` customer C-1001?").
///
/// ```
/// use guard_core::audit::AuditKey;
/// let key = AuditKey::from_hex(&"00".repeat(32))?;
/// assert_eq!(key, AuditKey::from_bytes([0; 32]));
/// assert!(AuditKey::from_hex("abc").is_err());
/// # Ok::<(), guard_core::audit::AuditError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AuditKey([u8; 32]);

impl AuditKey {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from 64 hex digits (surrounding whitespace ignored, as in a key file).
    pub fn from_hex(text: &str) -> Result<Self, AuditError> {
        let text = text.trim();
        let mut out = [0u8; 32];
        if text.len() != 64 || !text.is_ascii() {
            return Err(AuditError::Key("expected 64 hex digits".into()));
        }
        for (slot, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
            let s = std::str::from_utf8(pair).map_err(|_| AuditError::Key("not hex".into()))?;
            *slot = u8::from_str_radix(s, 16)
                .map_err(|_| AuditError::Key("expected 64 hex digits".into()))?;
        }
        Ok(Self(out))
    }

    /// A fresh random key. Pseudonyms written under it match only each other: use a configured
    /// key when events from several runs must be joined.
    pub fn generate() -> Result<Self, AuditError> {
        let mut out = [0u8; 32];
        getrandom::fill(&mut out).map_err(|e| AuditError::Key(format!("no randomness: {e}")))?;
        Ok(Self(out))
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

/// HMAC-SHA256 with the key's inner and outer pads absorbed once, so each pseudonym costs two
/// compressions instead of four.
#[derive(Clone)]
pub(crate) struct Hmac {
    inner: Sha256,
    outer: Sha256,
}

impl Hmac {
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            let digest = Sha256::digest(key);
            for (b, k) in block.iter_mut().zip(digest.iter()) {
                *b = *k;
            }
        } else {
            for (b, k) in block.iter_mut().zip(key.iter()) {
                *b = *k;
            }
        }
        let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
        let mut inner = Sha256::new();
        inner.update(&ipad);
        let mut outer = Sha256::new();
        outer.update(&opad);
        Self { inner, outer }
    }

    pub(crate) fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        inner.update(message);
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(
            HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
        ));
        s.push(char::from(
            HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0'),
        ));
    }
    s
}

/// The blueprint hash events carry: `sha256:` and the first 128 bits of SHA-256 of the YAML
/// text, so a change of policy is visible in the trail and replay knows what it compares.
///
/// ```
/// let h = guard_core::audit::blueprint_hash("blueprint: x\n");
/// assert!(h.starts_with("sha256:") && h.len() == 7 + 32);
/// assert_eq!(h, guard_core::audit::blueprint_hash("blueprint: x\n"));
/// ```
pub fn blueprint_hash(yaml: &str) -> String {
    let digest = Sha256::digest(yaml.as_bytes());
    format!("sha256:{}", hex(digest.get(..16).unwrap_or(&[])))
}

/// How events are made safe to keep: the pseudonym key and whether free text stays raw.
#[derive(Clone)]
pub struct Privacy {
    hmac: Hmac,
    raw_text: bool,
    max_text_bytes: usize,
}

impl fmt::Debug for Privacy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Privacy")
            .field("raw_text", &self.raw_text)
            .field("max_text_bytes", &self.max_text_bytes)
            .finish_non_exhaustive()
    }
}

/// Messages longer than this are cut (at a char boundary) in events; spans past the cut are kept,
/// the event says `text_truncated`.
pub const DEFAULT_MAX_TEXT_BYTES: usize = 16 * 1024;

impl Privacy {
    /// Pseudonyms under `key`, free text masked.
    pub fn new(key: &AuditKey) -> Self {
        Self {
            hmac: Hmac::new(&key.0),
            raw_text: false,
            max_text_bytes: DEFAULT_MAX_TEXT_BYTES,
        }
    }

    /// Keeps free text (messages, reasoning, approval notes) as written, e.g. so replay can
    /// re-scan messages. Identifiers in structured fields are pseudonymised regardless.
    pub fn raw_text(mut self, raw: bool) -> Self {
        self.raw_text = raw;
        self
    }

    /// Caps the bytes of text kept per event.
    pub fn max_text_bytes(mut self, bytes: usize) -> Self {
        self.max_text_bytes = bytes;
        self
    }

    pub(crate) fn max_text(&self) -> usize {
        self.max_text_bytes
    }

    /// Whether free text is kept raw.
    pub fn keeps_raw_text(&self) -> bool {
        self.raw_text
    }

    /// The pseudonym of an identifier: equal inputs give equal outputs under one key.
    ///
    /// ```
    /// use guard_core::audit::{AuditKey, Privacy};
    /// let p = Privacy::new(&AuditKey::from_bytes([7; 32]));
    /// assert_eq!(p.pseudonym("C-1001"), p.pseudonym("C-1001"));
    /// assert_ne!(p.pseudonym("C-1001"), p.pseudonym("C-1002"));
    /// assert!(!p.pseudonym("C-1001").contains("1001"));
    /// ```
    pub fn pseudonym(&self, value: &str) -> String {
        let mac = self.hmac.mac(value.as_bytes());
        let mut s = String::with_capacity(34);
        s.push_str("p_");
        s.push_str(&hex(mac.get(..16).unwrap_or(&[])));
        s
    }

    /// Free text as it may be written: cut to the size cap, then masked unless raw text is kept.
    /// Returns the text and whether it was cut.
    pub fn text(&self, text: &str) -> (String, bool) {
        let mut end = text.len().min(self.max_text_bytes);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let kept = text.get(..end).unwrap_or("");
        let out = if self.raw_text {
            kept.to_owned()
        } else {
            redact(kept)
        };
        (out, end < text.len())
    }
}

struct Patterns {
    email: Regex,
    card: Regex,
    phone: Regex,
    date: Regex,
    street: Regex,
}

fn patterns() -> Option<&'static Patterns> {
    static PATTERNS: OnceLock<Option<Patterns>> = OnceLock::new();
    PATTERNS
        .get_or_init(|| {
            Some(Patterns {
                email: Regex::new(r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)+").ok()?,
                // ASCII word boundaries keep these on the lazy DFA (a Unicode `\b` falls back
                // to a much slower engine, on the check path).
                card: Regex::new(r"(?-u:\b)\d(?:[ \-]?\d){12,18}(?-u:\b)").ok()?,
                phone: Regex::new(r"\+?\(?\d[\d ().\-]{5,20}\d").ok()?,
                date: Regex::new(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$")
                    .ok()?,
                street: Regex::new(
                    r"(?i)(?-u:\b)\d{1,6}[a-z]?\s+(?:[a-z][a-z'\-]*\.?\s+){1,4}(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|close|square|sq|parkway|pkwy|highway|hwy)(?-u:\b)\.?",
                )
                .ok()?,
            })
        })
        .as_ref()
}

/// Masks emails (first letter and domain kept: `a***@evil.com`), card numbers (last four
/// digits kept), phone numbers (last two digits kept) and street addresses (the street type
/// kept). Length-preserving in bytes, see the module docs. If the patterns cannot be built
/// (a bug), everything is masked: fail closed.
///
/// ```
/// use guard_core::audit::redact;
/// assert_eq!(redact("mail abby@evil.com now"), "mail a***@evil.com now");
/// assert_eq!(redact("card 4111 1111 1111 1234"), "card **** **** **** 1234");
/// assert_eq!(redact("call +1 415 555 0199"), "call +* *** *** **99");
/// assert_eq!(redact("ship to 12 Baker Street"), "ship to ** ***** Street");
/// assert_eq!(redact("refund 500.00 on order A-100"), "refund 500.00 on order A-100");
/// ```
pub fn redact(text: &str) -> String {
    let Some(p) = patterns() else {
        return "*".repeat(text.len());
    };
    // Most texts have no '@' and few digits: skip the searches that cannot match.
    let has_at = text.contains('@');
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    if !has_at && digits == 0 {
        return text.to_owned();
    }
    let mut mask = vec![false; text.len()];
    let mut set = |start: usize, end: usize| {
        for m in mask.iter_mut().take(end).skip(start) {
            *m = true;
        }
    };
    let emails = if has_at {
        Some(p.email.find_iter(text))
    } else {
        None
    };
    for m in emails.into_iter().flatten() {
        // The first character and the whole domain stay: the attacker's domain is evidence.
        let local_end = m.as_str().find('@').map_or(m.end(), |at| m.start() + at);
        let first = m.as_str().chars().next().map_or(0, char::len_utf8);
        set(m.start() + first, local_end);
    }
    let cards = if digits >= 13 {
        Some(p.card.find_iter(text))
    } else {
        None
    };
    for m in cards.into_iter().flatten() {
        let digits: Vec<usize> = m
            .as_str()
            .char_indices()
            .filter(|(_, c)| c.is_ascii_digit())
            .map(|(i, _)| m.start() + i)
            .collect();
        for &i in digits.iter().take(digits.len().saturating_sub(4)) {
            set(i, i + 1);
        }
    }
    let phones = if digits >= 7 {
        Some(p.phone.find_iter(text))
    } else {
        None
    };
    for m in phones.into_iter().flatten() {
        let s = m.as_str();
        // Digits inside a word (a hex pseudonym, an order id like A-1234567) are not a phone.
        let glued_before = text
            .get(..m.start())
            .and_then(|t| t.chars().next_back())
            .is_some_and(char::is_alphanumeric);
        let glued_after = text
            .get(m.end()..)
            .and_then(|t| t.chars().next())
            .is_some_and(char::is_alphanumeric);
        if glued_before || glued_after {
            continue;
        }
        let digits: Vec<usize> = s
            .char_indices()
            .filter(|(_, c)| c.is_ascii_digit())
            .map(|(i, _)| m.start() + i)
            .collect();
        // An amount or a date is not a phone: a phone has 7 to 15 digits, does not end in a
        // decimal point and cents, and is not shaped like a date.
        let looks_like_amount =
            s.contains('.') && s.rsplit('.').next().is_some_and(|t| t.len() <= 2);
        if !(7..=15).contains(&digits.len()) || looks_like_amount || p.date.is_match(s.trim()) {
            continue;
        }
        for &i in digits.iter().take(digits.len().saturating_sub(2)) {
            set(i, i + 1);
        }
    }
    for m in p.street.find_iter(text) {
        let s = m.as_str().trim_end_matches('.');
        let keep_from = s.rfind(char::is_whitespace).map_or(s.len(), |i| i + 1);
        for (i, c) in s.char_indices() {
            if i < keep_from && !c.is_whitespace() {
                set(m.start() + i, m.start() + i + c.len_utf8());
            }
        }
    }
    let mut out = Vec::with_capacity(text.len());
    for (byte, masked) in text.bytes().zip(mask.iter()) {
        out.push(if *masked { b'*' } else { byte });
    }
    // Every masked run covers whole characters, so this is valid UTF-8; if it were not, masking
    // everything is the safe answer.
    String::from_utf8(out).unwrap_or_else(|_| "*".repeat(text.len()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 1, 2 and 6 of RFC 4231 (6: a key longer than the block).
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, msg, want) in cases {
            assert_eq!(Hmac::new(key).mac(msg).to_vec(), unhex(want));
        }
    }

    #[test]
    fn pseudonyms_depend_on_the_key() {
        let a = Privacy::new(&AuditKey::from_bytes([1; 32]));
        let b = Privacy::new(&AuditKey::from_bytes([2; 32]));
        assert_eq!(a.pseudonym("C-1"), a.pseudonym("C-1"));
        assert_ne!(a.pseudonym("C-1"), b.pseudonym("C-1"));
        assert_eq!(a.pseudonym("C-1").len(), 34);
    }

    #[test]
    fn key_from_hex_roundtrips_and_rejects_garbage() {
        let key = AuditKey::from_hex(&format!("{}\n", "ab".repeat(32))).unwrap();
        assert_eq!(key, AuditKey::from_bytes([0xab; 32]));
        assert!(AuditKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(AuditKey::from_hex(&"é".repeat(32)).is_err());
        assert_eq!(format!("{key:?}"), "AuditKey(..)");
        assert_ne!(AuditKey::generate().unwrap(), AuditKey::generate().unwrap());
    }

    #[test]
    fn redaction_masks_identifiers_and_keeps_length() {
        let text = "I am bob.smith@mail.example, card 4111-1111-1111-1111, tel (415) 555-0199, \
                    live at 221B Baker Street. Refund 500.00 for order A-100 on 2024-05-01.";
        let out = redact(text);
        assert_eq!(out.len(), text.len());
        assert!(out.contains("b********@mail.example"), "{out}");
        assert!(out.contains("****-****-****-1111"), "{out}");
        assert!(out.contains("(***) ***-**99"), "{out}");
        assert!(out.contains("**** ***** Street"), "{out}");
        assert!(
            out.contains("Refund 500.00 for order A-100 on 2024-05-01."),
            "{out}"
        );
        for secret in ["bob.smith", "4111-1111", "555-0199", "221B Baker"] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
    }

    #[test]
    fn redaction_keeps_char_boundaries_of_non_ascii_text() {
        let text = "Ünïcødé ✓ émile@exämple.com 日本";
        let out = redact(text);
        assert_eq!(out.len(), text.len());
        assert!(out.starts_with("Ünïcødé ✓ é****@exämple.com 日本"), "{out}");
    }

    #[test]
    fn text_is_cut_at_a_char_boundary() {
        let p = Privacy::new(&AuditKey::from_bytes([0; 32])).max_text_bytes(3);
        assert_eq!(p.text("aéb"), ("aé".to_owned(), true));
        let p = p.max_text_bytes(2);
        assert_eq!(p.text("aéb"), ("a".to_owned(), true));
        let raw = Privacy::new(&AuditKey::from_bytes([0; 32])).raw_text(true);
        assert_eq!(raw.text("x@y.com"), ("x@y.com".to_owned(), false));
        let masked = Privacy::new(&AuditKey::from_bytes([0; 32]));
        assert_eq!(masked.text("xy@y.com"), ("x*@y.com".to_owned(), false));
    }

    #[test]
    fn blueprint_hash_is_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223...
        assert_eq!(
            blueprint_hash("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223"
        );
    }
}
