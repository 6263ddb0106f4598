//! The model and its file format.
//!
//! ```text
//! offset  size          field (little-endian)
//! 0       8             magic "GUARDLM\0"
//! 8       4  u32        format version (1)
//! 12      4  u32        feature recipe (features::RECIPE)
//! 16      4  u32        buckets (a power of two, 2^10 ..= 2^22)
//! 20      4  u32        shape dimensions (9)
//! 24      8  f64        weight scale (weight = q · scale)
//! 32      8  f64        bias
//! 40      3·8·dims f64  shape means, shape spreads, shape weights
//! ...     2·buckets i16 quantised bucket weights
//! end-8   8  u64        FNV-1a of every byte before it
//! ```
//! Weights are quantised to i16 so the default model is 256 KiB and the bucket sum is an exact
//! integer sum, the same on every machine.

use std::path::Path;

use thiserror::Error;

use super::features::{self, HashSink, Occurrence};
use crate::scan::shape::{ShapeFeatures, FEATURES};

const MAGIC: &[u8; 8] = b"GUARDLM\0";
/// The format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const MIN_BUCKET_BITS: u32 = 10;
const MAX_BUCKET_BITS: u32 = 22;
const SHAPE_DIMS: usize = FEATURES.len();
const HEADER: usize = 40;

/// Why a model file was refused.
#[derive(Debug, Error, PartialEq)]
pub enum ModelError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The path as given.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The file does not start with the model magic.
    #[error("not a guard learned model (bad magic)")]
    NotAModel,
    /// Written by another format version.
    #[error("model format version {found}, this build reads version {supported}")]
    Version {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// Trained on another feature recipe: its buckets mean something else.
    #[error("model uses feature recipe {found}, this build computes recipe {supported}")]
    Recipe {
        /// Recipe in the file.
        found: u32,
        /// Recipe this build computes.
        supported: u32,
    },
    /// Dimensions that this build cannot use.
    #[error("model dimensions: {0}")]
    Dimensions(String),
    /// Shorter or longer than its header says.
    #[error("model file is {found} bytes, its header says {expected}")]
    Length {
        /// Size the header implies.
        expected: usize,
        /// Actual size.
        found: usize,
    },
    /// The checksum does not match: the file was damaged.
    #[error("model checksum mismatch (file damaged)")]
    Checksum,
    /// A number in the file is not finite or out of range.
    #[error("model value out of range: {0}")]
    Value(String),
}

/// A trained linear model over hashed message features.
#[derive(Clone, PartialEq)]
pub struct LearnedModel {
    pub(crate) scale: f64,
    pub(crate) bias: f64,
    pub(crate) shape_mean: [f64; SHAPE_DIMS],
    pub(crate) shape_spread: [f64; SHAPE_DIMS],
    pub(crate) shape_weight: [f64; SHAPE_DIMS],
    pub(crate) weights: Vec<i16>,
    pub(crate) mask: u64,
}

impl std::fmt::Debug for LearnedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LearnedModel")
            .field("buckets", &self.weights.len())
            .field("scale", &self.scale)
            .field("bias", &self.bias)
            .finish_non_exhaustive()
    }
}

/// The default model, trained by `guard train` (see README, "Learned detector").
const DEFAULT_MODEL: &[u8] = include_bytes!("default_model.bin");

fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A little-endian reader over a slice that reports running out instead of panicking.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.rest.split_first_chunk::<N>()?;
        self.rest = tail;
        Some(*head)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    fn f64(&mut self) -> Option<f64> {
        self.take::<8>().map(f64::from_le_bytes)
    }
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl LearnedModel {
    /// The model shipped inside guard-core.
    pub fn embedded_default() -> Result<Self, ModelError> {
        Self::from_bytes(DEFAULT_MODEL)
    }

    /// Reads a model file written by `guard train`.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        // The largest table the format allows (2^22 i16 weights) plus its header.
        let bytes =
            crate::bounded_read::read_bounded(path, (1 << 23) + (1 << 16)).map_err(|e| {
                ModelError::Io {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
        Self::from_bytes(&bytes)
    }

    /// Parses a model; every malformed input is an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let short = |expected: usize| ModelError::Length {
            expected,
            found: bytes.len(),
        };
        let mut r = Reader { rest: bytes };
        let magic = r.take::<8>().ok_or(ModelError::NotAModel)?;
        if &magic != MAGIC {
            return Err(ModelError::NotAModel);
        }
        let version = r.u32().ok_or_else(|| short(HEADER))?;
        if version != FORMAT_VERSION {
            return Err(ModelError::Version {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let recipe = r.u32().ok_or_else(|| short(HEADER))?;
        let buckets = r.u32().ok_or_else(|| short(HEADER))?;
        let dims = r.u32().ok_or_else(|| short(HEADER))?;
        if recipe != features::RECIPE {
            return Err(ModelError::Recipe {
                found: recipe,
                supported: features::RECIPE,
            });
        }
        if !buckets.is_power_of_two()
            || !(MIN_BUCKET_BITS..=MAX_BUCKET_BITS).contains(&buckets.trailing_zeros())
        {
            return Err(ModelError::Dimensions(format!(
                "{buckets} buckets (must be a power of two from 2^{MIN_BUCKET_BITS} to 2^{MAX_BUCKET_BITS})"
            )));
        }
        if usize::try_from(dims).ok() != Some(SHAPE_DIMS) {
            return Err(ModelError::Dimensions(format!(
                "{dims} shape features, this build computes {SHAPE_DIMS}"
            )));
        }
        let buckets = buckets as usize;
        let expected = HEADER + 3 * 8 * SHAPE_DIMS + 2 * buckets + 8;
        if bytes.len() != expected {
            return Err(short(expected));
        }
        let (body, sum) = bytes.split_at(expected - 8);
        let stored = sum
            .first_chunk::<8>()
            .map(|c| u64::from_le_bytes(*c))
            .ok_or_else(|| short(expected))?;
        if fnv64(body) != stored {
            return Err(ModelError::Checksum);
        }
        let scale = r.f64().ok_or_else(|| short(expected))?;
        let bias = r.f64().ok_or_else(|| short(expected))?;
        let mut shape = [[0.0f64; SHAPE_DIMS]; 3];
        for row in &mut shape {
            for v in row.iter_mut() {
                *v = r.f64().ok_or_else(|| short(expected))?;
            }
        }
        let [shape_mean, shape_spread, shape_weight] = shape;
        let finite = [scale, bias]
            .iter()
            .chain(shape.iter().flatten())
            .all(|v| v.is_finite());
        if !finite || scale < 0.0 || shape_spread.iter().any(|s| *s <= 0.0) {
            return Err(ModelError::Value(
                "scale, bias and shape statistics must be finite, spreads positive".into(),
            ));
        }
        let mut weights = Vec::with_capacity(buckets);
        for _ in 0..buckets {
            let q = r.take::<2>().ok_or_else(|| short(expected))?;
            weights.push(i16::from_le_bytes(q));
        }
        Ok(Self {
            scale,
            bias,
            shape_mean,
            shape_spread,
            shape_weight,
            weights,
            mask: buckets as u64 - 1,
        })
    }

    /// The file bytes of this model.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + 3 * 8 * SHAPE_DIMS + 2 * self.weights.len() + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&features::RECIPE.to_le_bytes());
        out.extend_from_slice(&u32::try_from(self.weights.len()).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&u32::try_from(SHAPE_DIMS).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&self.scale.to_le_bytes());
        out.extend_from_slice(&self.bias.to_le_bytes());
        for row in [&self.shape_mean, &self.shape_spread, &self.shape_weight] {
            for v in row {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        for w in &self.weights {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let sum = fnv64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Number of hash buckets.
    pub fn buckets(&self) -> usize {
        self.weights.len()
    }

    pub(crate) fn bucket(&self, hash: u64) -> usize {
        (hash & self.mask) as usize
    }

    /// Weight of one occurrence (before the length normalisation).
    pub(crate) fn weight(&self, o: &Occurrence) -> f64 {
        f64::from(self.weights.get(self.bucket(o.hash)).copied().unwrap_or(0)) * self.scale
    }

    pub(crate) fn shape_term(&self, shape: &ShapeFeatures) -> f64 {
        let mut z = 0.0;
        for k in 0..SHAPE_DIMS {
            let (Some(x), Some(m), Some(s), Some(w)) = (
                shape.0.get(k),
                self.shape_mean.get(k),
                self.shape_spread.get(k),
                self.shape_weight.get(k),
            ) else {
                continue;
            };
            z += w * features::squash((x - m) / s);
        }
        z
    }

    /// The model alone on an already canonical text, for benchmarks: what inference costs
    /// without the scanner's normalisation.
    #[doc(hidden)]
    pub fn probability_of_canonical(&self, canonical: &str, shape: &ShapeFeatures) -> f64 {
        self.probability(canonical, shape)
    }

    /// Probability that `canonical` (with shape `shape`) is an attack. O(length), no
    /// allocation.
    pub(crate) fn probability(&self, canonical: &str, shape: &ShapeFeatures) -> f64 {
        let mut acc = WeightSum {
            model: self,
            sum: 0,
            n: 0,
        };
        if canonical.is_ascii() {
            features::for_each_hash_ascii(canonical.as_bytes(), &mut acc);
        } else {
            features::for_each(canonical, |o| acc.take(o.hash));
        }
        let WeightSum { sum, n, .. } = acc;
        let z = self.bias + self.shape_term(shape) + sum as f64 * self.scale / norm(n);
        let p = sigmoid(z);
        if p.is_finite() {
            p
        } else {
            1.0
        }
    }
}

/// The running sum of the weights of a text's features, and their count.
struct WeightSum<'m> {
    model: &'m LearnedModel,
    sum: i64,
    n: u64,
}

impl HashSink for WeightSum<'_> {
    // Wrapping adds: neither can overflow (an i16 per feature, far fewer than 2^47 features),
    // and a checked add sent the sum back to memory before each possible panic, a store and
    // reload per feature that the next one waited on.
    #[inline]
    fn take(&mut self, hash: u64) {
        let m = self.model;
        let w = i64::from(m.weights.get(m.bucket(hash)).copied().unwrap_or(0));
        self.sum = self.sum.wrapping_add(w);
        self.n = self.n.wrapping_add(1);
    }
}

/// Occurrence counts are divided by √n, so a long message is judged by what it says rather
/// than by how much it says.
pub(crate) fn norm(n: u64) -> f64 {
    (n.max(1) as f64).sqrt()
}
