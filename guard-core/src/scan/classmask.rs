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

/// Bit `k` set when byte `k` of `block` (at most 64 bytes) begins a character outside ASCII:
/// its top two bits are set.
fn lead_bytes(block: &[u8]) -> u64 {
    const TOP: u64 = 0x8080_8080_8080_8080;
    let mut m = 0u64;
    for (j, eight) in block.chunks(8).enumerate().take(8) {
        let w = le_word(eight);
        // The top bit of each lead byte moved to its byte's lowest bit, then the eight
        // gathered into the top byte by one multiplication (no two products overlap).
        let lead = (w & (w << 1) & TOP) >> 7;
        m |= (lead.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * j);
    }
    m
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

/// Eight bytes' classes side by side: byte `k` holds the classes of `eight[k]`.
#[inline(always)]
fn class_word(eight: &[u8; 8]) -> u64 {
    u64::from_le_bytes(eight.map(|b| CLASSES.get(usize::from(b)).copied().unwrap_or(0)))
}

/// Transposes an 8×8 byte matrix held in eight words: byte `c` of `w[j]` moves to byte `j` of
/// `w[c]`. After [`transpose8`] of each eight bytes' class word (byte `c` of `w[j]` = class `c`
/// of bytes `8j..8j + 8`), this leaves the block's mask of class `c` in `w[c]`: three rounds of
/// swaps for all classes at once, instead of a shift and mask per class and group.
#[inline(always)]
fn transpose_bytes(w: &mut [u64; CLASS_COUNT]) {
    /// Swaps the `lo`-masked half of `b` with the other half of `a`, `sh` bits apart.
    fn swap(a: u64, b: u64, sh: u32, lo: u64) -> (u64, u64) {
        ((a & lo) | ((b & lo) << sh), ((a >> sh) & lo) | (b & !lo))
    }
    const L32: u64 = 0x0000_0000_FFFF_FFFF;
    const L16: u64 = 0x0000_FFFF_0000_FFFF;
    const L8: u64 = 0x00FF_00FF_00FF_00FF;
    let [w0, w1, w2, w3, w4, w5, w6, w7] = *w;
    let (a0, a4) = swap(w0, w4, 32, L32);
    let (a1, a5) = swap(w1, w5, 32, L32);
    let (a2, a6) = swap(w2, w6, 32, L32);
    let (a3, a7) = swap(w3, w7, 32, L32);
    let (b0, b2) = swap(a0, a2, 16, L16);
    let (b1, b3) = swap(a1, a3, 16, L16);
    let (b4, b6) = swap(a4, a6, 16, L16);
    let (b5, b7) = swap(a5, a7, 16, L16);
    let (c0, c1) = swap(b0, b1, 8, L8);
    let (c2, c3) = swap(b2, b3, 8, L8);
    let (c4, c5) = swap(b4, b5, 8, L8);
    let (c6, c7) = swap(b6, b7, 8, L8);
    *w = [c0, c1, c2, c3, c4, c5, c6, c7];
}

/// The class masks of one text: per block of 64 bytes, one mask per class; bit `i` of a
/// block's mask is byte `64·block + i`. Bits past the end are zero.
#[derive(Debug)]
pub(crate) struct ClassMasks {
    pub blocks: Vec<[u64; CLASS_COUNT]>,
    pub len: usize,
    /// Per block, the bytes that begin a character outside ASCII ([`lead_bytes`]); empty
    /// for ASCII text. Computed once here for the passes that need them.
    leads: Vec<u64>,
}

impl ClassMasks {
    /// Masks of `bytes` (meant for ASCII; bytes ≥ 0x80 belong to no class).
    pub(crate) fn of(bytes: &[u8]) -> Self {
        let mut blocks = Vec::with_capacity(bytes.len().div_ceil(64));
        let mut chunks = bytes.chunks_exact(64);
        for chunk in chunks.by_ref() {
            let mut m = [0u64; CLASS_COUNT];
            for (slot, eight) in m.iter_mut().zip(chunk.chunks_exact(8)) {
                if let Some(e) = eight.first_chunk::<8>() {
                    *slot = transpose8(class_word(e));
                }
            }
            transpose_bytes(&mut m);
            blocks.push(m);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut m = [0u64; CLASS_COUNT];
            for (slot, eight) in m.iter_mut().zip(rest.chunks(8)) {
                // Padded with a byte of no class: bits past the end stay zero.
                let mut e = [0x80u8; 8];
                for (d, s) in e.iter_mut().zip(eight) {
                    *d = *s;
                }
                *slot = transpose8(class_word(&e));
            }
            transpose_bytes(&mut m);
            blocks.push(m);
        }
        let leads = if bytes.is_ascii() {
            Vec::new()
        } else {
            bytes.chunks(64).map(lead_bytes).collect()
        };
        Self {
            blocks,
            len: bytes.len(),
            leads,
        }
    }

    /// Block `b` with its neighbours, for questions about adjacent bytes. Borrowed, not
    /// copied: most questions read two or three of the 24 words.
    #[inline]
    pub(crate) fn window(&self, b: usize) -> Window<'_> {
        static NONE: [u64; CLASS_COUNT] = [0; CLASS_COUNT];
        let block = |k: Option<usize>| k.and_then(|k| self.blocks.get(k)).unwrap_or(&NONE);
        Window {
            prev: block(b.checked_sub(1)),
            cur: block(Some(b)),
            next: block(Some(b + 1)),
            inside: self.inside(b),
            next_inside: self.inside(b + 1),
        }
    }

    /// Bit `k` set when byte `64·b + k` begins a character outside ASCII.
    pub(crate) fn leads(&self, b: usize) -> u64 {
        self.leads.get(b).copied().unwrap_or(0)
    }

    /// The first position at or after `from` in class `class`.
    pub(crate) fn next_set(&self, class: usize, from: usize) -> Option<usize> {
        let mut b = from / 64;
        let mut m = self.blocks.get(b)?.get(class)? & (u64::MAX << (from % 64));
        while m == 0 {
            b += 1;
            m = *self.blocks.get(b)?.get(class)?;
        }
        Some(b * 64 + m.trailing_zeros() as usize)
    }

    /// Bits of block `b` that lie inside the text.
    #[inline]
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
pub(crate) struct Window<'a> {
    prev: &'a [u64; CLASS_COUNT],
    cur: &'a [u64; CLASS_COUNT],
    next: &'a [u64; CLASS_COUNT],
    /// Bits of this block, and of the next, that lie inside the text.
    pub inside: u64,
    pub next_inside: u64,
}

impl Window<'_> {
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

    /// Every byte value, at every offset within a block and every length of a last partial
    /// block: each bit is that byte's class, and nothing is set past the end.
    #[test]
    fn masks_hold_each_bytes_classes_at_every_length() {
        let text: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).chain(0..=99).collect();
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 127, 128, 200, 511, text.len()] {
            let bytes = &text[..len];
            let m = ClassMasks::of(bytes);
            assert_eq!(m.blocks.len(), len.div_ceil(64));
            for (b, block) in m.blocks.iter().enumerate() {
                for (class, &mask) in block.iter().enumerate() {
                    for bit in 0..64 {
                        let want = bytes
                            .get(b * 64 + bit)
                            .is_some_and(|&x| CLASSES[usize::from(x)] >> class & 1 == 1);
                        assert_eq!(
                            mask >> bit & 1 == 1,
                            want,
                            "len {len} block {b} class {class} bit {bit}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn next_set_is_the_next_position_of_the_class() {
        let text: Vec<u8> = (0..300u32)
            .map(|i| if i % 37 == 5 || i == 64 { b'3' } else { b'a' })
            .collect();
        let m = ClassMasks::of(&text);
        for from in 0..=text.len() + 2 {
            let want = (from..text.len()).find(|&i| text[i] == b'3');
            assert_eq!(m.next_set(LEET, from), want, "from {from}");
        }
    }

    #[test]
    fn lead_bytes_mark_where_longer_characters_begin() {
        let text = "aé忽🔥b\u{0301}xyz ñ".repeat(5);
        for block in text.as_bytes().chunks(64) {
            let want = block
                .iter()
                .enumerate()
                .filter(|(_, &b)| b >= 0xC0)
                .fold(0u64, |m, (k, _)| m | 1 << k);
            assert_eq!(lead_bytes(block), want);
        }
        let m = ClassMasks::of(text.as_bytes());
        for (b, block) in text.as_bytes().chunks(64).enumerate() {
            assert_eq!(m.leads(b), lead_bytes(block));
        }
        assert_eq!(ClassMasks::of(b"plain ascii text").leads(0), 0);
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
