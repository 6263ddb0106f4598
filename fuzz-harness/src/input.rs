//! Reads choices out of the fuzzer's bytes. Exhausted input ends the sequence (`None`), so
//! every prefix of an input is itself a valid, shorter input.

#[derive(Debug)]
pub(crate) struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub(crate) fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(*first)
    }

    /// A choice among `n` options (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> Option<usize> {
        self.byte().map(|b| usize::from(b) % n.max(1))
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }

    /// One of `items`, by the next byte.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        let i = self.below(items.len())?;
        items.get(i).copied()
    }
}
