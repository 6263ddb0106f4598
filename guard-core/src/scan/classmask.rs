//! ASCII byte classes as bit masks, 64 positions to a word, built once per canonical view and
//! shared by the trigger pass (which derived views a text needs), the phrase pass (where a
//! phrase may start) and the shape features.
//!
//! Those questions look at each byte and its neighbours. Written as a loop, they branch at
//! every word boundary, and on prose those mispredicted branches cost more than the work
//! itself. As masks they are a few shifts, ands and popcounts per 64 bytes, whatever the text.

use super::views::leet;

// The classes, one mask each.
pub(crate) const ALPHA: usize = 0;
pub(crate) const DIGIT: usize = 1;
/// A character leetspeak uses for a letter (`0 1 3 4 5 7 8 9 ! | @ $ +`, see `views::leet`).
pub(crate) const LEET: usize = 2;
/// Punctuation that can open a marker phrase (`[system]`, `<|im_start|>`, `### instruction`).
pub(crate) const MARK: usize = 3;
/// Lower-case vowels, `y` included.
pub(crate) const VOWEL: usize = 4;
/// Bytes that end a sentence-like stretch for the vowel-ratio test.
pub(crate) const STOP: usize = 5;
/// Separators of letter-spaced text ("i g n o r e", "i.g.n.o.r.e").
pub(crate) const JOIN_SEP: usize = 6;
/// What base64 and hex runs are made of: letters, digits, `+ - / _ = \`.
pub(crate) const ENCODED: usize = 7;
/// The bytes of [`MARK`].
pub(crate) const MARK_BYTES: &[u8] = b"[<#./\"{(";
const CLASS_COUNT: usize = 8;

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut rest: &mut [u8] = &mut t;
    let mut i = 0usize;
    while i < 128 {
        let b = i as u8;
        let mut c = 0u8;
        if b.is_ascii_alphabetic() {
            c |= 1 << ALPHA;
        }
        if b.is_ascii_digit() {
            c |= 1 << DIGIT;
        }
        if leet(b).is_some() {
            c |= 1 << LEET;
        }
        if matches!(b, b'a' | b'e' | b'i' | b'o' | b'u' | b'y') {
            c |= 1 << VOWEL;
        }
        if matches!(b, b'.' | b'!' | b'?' | b'\n' | b'<' | b'>' | b'\'' | b'"') {
            c |= 1 << STOP;
        }
        if matches!(b, b' ' | b'\n' | b'.' | b'-' | b'_' | b'*') {
            c |= 1 << JOIN_SEP;
        }
        if is_encoded(b) {
            c |= 1 << ENCODED;
        }
        let mut marks = MARK_BYTES;
        while let [m, tail @ ..] = marks {
            if *m == b {
                c |= 1 << MARK;
            }
            marks = tail;
        }
        if let [first, tail @ ..] = rest {
            *first = c;
            rest = tail;
        }
        i += 1;
    }
    t
}

static CLASSES: [u8; 256] = classes();

/// A byte that can belong to a base64 (standard or URL-safe, padded) or hex (`\x41`) run.
pub(crate) const fn is_encoded(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'/' | b'_' | b'=' | b'\\')
}

/// Up to eight bytes as one little-endian word (byte `k` in bits `8k..8k + 8`), built in a
/// register: copying them through a stack array and reading it back stalls on store
/// forwarding.
#[inline]
pub(crate) fn le_word(bytes: &[u8]) -> u64 {
    // Eight or more bytes: one unaligned load (the fold below stays a byte loop when the
    // length is not known at compile time).
    if let Some(w) = bytes.first_chunk::<8>() {
        return u64::from_le_bytes(*w);
    }
    bytes
        .iter()
        .rev()
        .fold(0u64, |a, &b| (a << 8) | u64::from(b))
}

/// Transposes an 8×8 bit matrix held in a `u64` (row `r` = byte `r`): bit `8r + c` moves to
/// bit `8c + r` (Hacker's Delight, 7-3).
fn transpose8(mut x: u64) -> u64 {
    let t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
    x ^= t ^ (t << 7);
    let t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
    x ^= t ^ (t << 14);
    let t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
    x ^ t ^ (t << 28)
}

/// The class masks of one text: per block of 64 bytes, one mask per class; bit `i` of a
/// block's mask is byte `64·block + i`. Bits past the end are zero.
#[derive(Debug)]
pub(crate) struct ClassMasks {
    pub blocks: Vec<[u64; CLASS_COUNT]>,
    pub len: usize,
}

impl ClassMasks {
    /// Masks of `bytes` (meant for ASCII; bytes ≥ 0x80 belong to no class).
    pub(crate) fn of(bytes: &[u8]) -> Self {
        let mut blocks = Vec::with_capacity(bytes.len().div_ceil(64));
        for chunk in bytes.chunks(64) {
            let mut m = [0u64; CLASS_COUNT];
            for (j, eight) in chunk.chunks(8).enumerate() {
                // Eight bytes' classes side by side, then transposed: byte `c` of `t` holds
                // class `c` of the eight positions.
                let mut x = 0u64;
                for (k, &b) in eight.iter().enumerate() {
                    x |= u64::from(CLASSES.get(usize::from(b)).copied().unwrap_or(0)) << (8 * k);
                }
                let t = transpose8(x);
                for (c, mask) in m.iter_mut().enumerate() {
                    *mask |= ((t >> (8 * c)) & 0xFF) << (8 * j);
                }
            }
            blocks.push(m);
        }
        Self {
            blocks,
            len: bytes.len(),
        }
    }

    /// Block `b` with its neighbours, for questions about adjacent bytes.
    pub(crate) fn window(&self, b: usize) -> Window {
        const NONE: [u64; CLASS_COUNT] = [0; CLASS_COUNT];
        let block = |k: Option<usize>| k.and_then(|k| self.blocks.get(k)).copied();
        Window {
            prev: block(b.checked_sub(1)).unwrap_or(NONE),
            cur: block(Some(b)).unwrap_or(NONE),
            next: block(Some(b + 1)).unwrap_or(NONE),
            inside: self.inside(b),
            next_inside: self.inside(b + 1),
        }
    }

    /// Bits of block `b` that lie inside the text.
    pub(crate) fn inside(&self, b: usize) -> u64 {
        let start = b * 64;
        match self.len.saturating_sub(start) {
            0 => 0,
            n if n >= 64 => u64::MAX,
            n => (1u64 << n) - 1,
        }
    }
}

/// One block's masks beside its neighbours'.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    prev: [u64; CLASS_COUNT],
    cur: [u64; CLASS_COUNT],
    next: [u64; CLASS_COUNT],
    /// Bits of this block, and of the next, that lie inside the text.
    pub inside: u64,
    pub next_inside: u64,
}

impl Window {
    /// Class `class` of this block.
    pub(crate) fn get(&self, class: usize) -> u64 {
        self.cur.get(class).copied().unwrap_or(0)
    }

    /// Class `class` of the next block.
    pub(crate) fn next(&self, class: usize) -> u64 {
        self.next.get(class).copied().unwrap_or(0)
    }

    /// Bit `i` = class at position `i − k` (for `k` in 1..64).
    pub(crate) fn before(&self, class: usize, k: u32) -> u64 {
        let prev = self.prev.get(class).copied().unwrap_or(0);
        (self.get(class) << k) | (prev >> (64 - k))
    }

    /// Bit `i` = class at position `i + 1`.
    pub(crate) fn after(&self, class: usize) -> u64 {
        (self.get(class) >> 1) | (self.next(class) << 63)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn le_word_puts_byte_k_in_bits_8k() {
        let bytes: Vec<u8> = (1..=12).collect();
        for len in 0..=bytes.len() {
            let b = &bytes[..len];
            let want = b
                .iter()
                .take(8)
                .enumerate()
                .fold(0u64, |a, (k, &x)| a | u64::from(x) << (8 * k));
            assert_eq!(le_word(b), want, "{len} bytes");
        }
    }

    #[test]
    fn masks_match_the_byte_table() {
        let text: Vec<u8> = (0..300u32).map(|i| (i * 37 % 128) as u8).collect();
        let m = ClassMasks::of(&text);
        assert_eq!(m.blocks.len(), 5);
        for class in 0..CLASS_COUNT {
            for (i, &b) in text.iter().enumerate() {
                let want = CLASSES[usize::from(b)] >> class & 1 == 1;
                let got = m.window(i / 64).get(class) >> (i % 64) & 1 == 1;
                assert_eq!(got, want, "class {class} at {i} ({b})");
            }
            assert_eq!(m.window(4).get(class) & !m.inside(4), 0);
        }
    }

    #[test]
    fn neighbours_carry_across_blocks() {
        let mut text = vec![b' '; 130];
        text[63] = b'a';
        text[64] = b'b';
        let m = ClassMasks::of(&text);
        assert_eq!(m.window(1).before(ALPHA, 1) & 1, 1, "position 64 sees 63");
        assert_eq!(m.window(0).after(ALPHA) >> 63, 1, "position 63 sees 64");
        assert_eq!(
            m.window(1).before(ALPHA, 2) & 0b10,
            0b10,
            "position 65 sees 63"
        );
        assert_eq!(
            m.window(1).before(ALPHA, 1) & 0b100,
            0,
            "position 66 sees 65, a space"
        );
        assert_eq!(m.inside(2), 0b11);
    }
}
