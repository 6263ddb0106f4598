//! The ASCII words the scanner reads, for choosing between the readings of a leet "1".

use std::collections::HashSet;

use crate::scan::detect::Fx;

/// Keys are the scanner's own words (a lookup with an attacker's word probes a fixed table),
/// so SipHash's keyed hashing buys nothing.
type Set = HashSet<Box<[u8]>, Fx>;

/// Every word of a phrase or of one of the rules' word lists spelt in ASCII letters, and the
/// stems of phrases that match any ending ("instruction*"), lower case.
#[derive(Debug, Default)]
pub(crate) struct KnownWords {
    words: Set,
    stems: Set,
    /// Bit `n` set when some stem is `n` bytes long: the only prefixes worth looking up.
    stem_lens: u64,
    /// Bytes in the longest word.
    longest: usize,
}

impl KnownWords {
    /// Adds the words of `phrase` spelt in ASCII letters alone ("contraseña" is not one, nor
    /// a part of it); with `stem`, its last word (when the phrase ends with it) is a stem.
    pub(crate) fn add(&mut self, phrase: &str, stem: bool) {
        let words: Vec<&str> = phrase.split(|c: char| !c.is_alphanumeric()).collect();
        let stem = stem
            && phrase
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphabetic());
        let last = words.len().saturating_sub(1);
        for (k, w) in words.iter().enumerate() {
            if w.is_empty() || !w.bytes().all(|b| b.is_ascii_alphabetic()) {
                continue;
            }
            let lower: Box<[u8]> = w.as_bytes().to_ascii_lowercase().into();
            // (A stem of 64 bytes or more, which no pack has, counts as a word.)
            if stem && k == last && lower.len() < 64 {
                self.stem_lens |= 1 << lower.len();
                self.stems.insert(lower);
            } else {
                self.longest = self.longest.max(lower.len());
                self.words.insert(lower);
            }
        }
    }

    /// Whether `word` (lower-case ASCII letters) is a known word or begins with a known stem.
    pub(crate) fn knows(&self, word: &[u8]) -> bool {
        if word.len() <= self.longest && self.words.contains(word) {
            return true;
        }
        // Stem lengths up to the word's, shortest first.
        let mut lens = self.stem_lens & (u64::MAX >> 63usize.saturating_sub(word.len()));
        while lens != 0 {
            let k = lens.trailing_zeros() as usize;
            if word.get(..k).is_some_and(|p| self.stems.contains(p)) {
                return true;
            }
            lens &= lens - 1;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_stems() {
        let mut k = KnownWords::default();
        k.add("ignore all previous instruction", true);
        k.add("[system]:", true);
        k.add("e-mail address", false);
        k.add("contraseña x2", false);
        for (w, known) in [
            ("ignore", true),
            ("all", true),
            ("instruction", true),
            ("instructions", true),
            ("instructlons", false),
            ("instr", false),
            ("system", true),
            ("systems", false),
            ("mail", true),
            ("address", true),
            ("aii", false),
            ("contrase", false),
            ("x", false),
            ("", false),
        ] {
            assert_eq!(k.knows(w.as_bytes()), known, "{w}");
        }
    }
}
