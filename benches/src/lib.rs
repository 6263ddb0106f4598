//! Shared helpers for the workspace benchmarks.

use std::time::Instant;

/// Ordinary support sentences, shared by the scanner and learned-detector benches.
pub const CLEAN: &[&str] = &[
    "Hi, I ordered a pair of running shoes last week and the tracking page still says label created. ",
    "Could you check whether the parcel left the warehouse? My order number is 55812. ",
    "I paid with the card ending 4242 and the charge already shows on my statement. ",
    "If it is lost I would prefer a replacement in size 42 rather than a refund. ",
    "Thanks for your help, the chat last time was quick and friendly! ",
];

/// `n` bytes (cut at a character boundary) of `parts`, cycled.
pub fn cycled(parts: &[&str], n: usize) -> String {
    let mut s = String::with_capacity(n + 64);
    for part in parts.iter().cycle() {
        if s.len() >= n || part.is_empty() {
            break;
        }
        s.push_str(part);
    }
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

/// Percentiles of individually timed calls, for the p99 figures criterion does not report.
#[derive(Debug)]
pub struct Latency {
    /// Sorted samples in nanoseconds.
    samples: Vec<u64>,
}

impl Latency {
    /// Times `f` `n` times, one sample per call (after `n / 10` warm-up calls).
    pub fn measure<T>(n: usize, mut f: impl FnMut() -> T) -> Self {
        for _ in 0..n / 10 {
            std::hint::black_box(f());
        }
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            std::hint::black_box(f());
            let elapsed = start.elapsed().as_nanos();
            samples.push(u64::try_from(elapsed).unwrap_or(u64::MAX));
        }
        samples.sort_unstable();
        Self { samples }
    }

    /// The `p`-th percentile (0..=100) in nanoseconds.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.samples.is_empty() {
            return 0;
        }
        let last = self.samples.len() - 1;
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let idx = ((p / 100.0) * last as f64).round() as usize;
        self.samples.get(idx.min(last)).copied().unwrap_or(0)
    }

    /// One line: median, p90, p99, p99.9 and max in microseconds.
    pub fn line(&self, name: &str) -> String {
        let us = |ns: u64| format!("{:.2}", ns as f64 / 1000.0);
        format!(
            "{name:<40} n={:<8} median {:>7} µs  p90 {:>7} µs  p99 {:>7} µs  p99.9 {:>7} µs  max {:>8} µs",
            self.samples.len(),
            us(self.percentile(50.0)),
            us(self.percentile(90.0)),
            us(self.percentile(99.0)),
            us(self.percentile(99.9)),
            us(self.samples.last().copied().unwrap_or(0)),
        )
    }
}
