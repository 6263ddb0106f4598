//! Deterministic training: logistic regression by AdaGrad over the hashed features, in f64,
//! single-threaded, with a fixed-seed shuffle. The same examples in the same order give the
//! same model bytes on every run and machine (IEEE arithmetic in a fixed order; no hash-map
//! iteration anywhere).

use super::features;
use super::model::{norm, sigmoid, LearnedModel};
use crate::scan::detect::Engine;
use crate::scan::shape::{ShapeBaseline, ShapeFeatures, FEATURES};
use crate::scan::{canonical_view, ScanError};

const SHAPE_DIMS: usize = FEATURES.len();

/// One labelled message. `group` is where it came from (usually its file): class weights are
/// balanced per group, so a 35-row attack file is not drowned by a 5,000-row benign one.
#[derive(Debug, Clone)]
pub struct Example {
    /// The message.
    pub text: String,
    /// True for an attack, false for benign traffic.
    pub attack: bool,
    /// Source group (file name).
    pub group: String,
}

/// Training settings. The defaults produced the shipped model.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// log2 of the number of hash buckets.
    pub bucket_bits: u32,
    /// Passes over the data.
    pub epochs: usize,
    /// AdaGrad step size.
    pub learning_rate: f64,
    /// L2 penalty per update.
    pub l2: f64,
    /// Shuffle seed.
    pub seed: u64,
    /// Total weight of attacks relative to benign rows.
    pub attack_mass: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            bucket_bits: 17,
            epochs: 12,
            learning_rate: 0.2,
            l2: 1e-3,
            seed: 0x5eed_9a2d,
            attack_mass: 1.0,
        }
    }
}

/// An example with its features computed once (the scanner pass is the costly part, and
/// leave-one-file-out trains many times on the same rows).
#[derive(Debug, Clone)]
pub struct Prepared {
    canonical: String,
    shape: ShapeFeatures,
    /// Sorted, merged `(bucket, count / √n)`.
    features: Vec<(u32, f64)>,
    attack: bool,
    group: String,
}

impl Prepared {
    /// The label.
    pub fn attack(&self) -> bool {
        self.attack
    }
    /// The group.
    pub fn group(&self) -> &str {
        &self.group
    }
}

/// Computes features for every example with the default scanner's normalisation and pattern
/// counts (the same ones the detector sees at scan time).
pub fn prepare(examples: &[Example], opts: &TrainOptions) -> Result<Vec<Prepared>, ScanError> {
    // The engine without a learned model: features must not depend on the model being trained.
    let engine = Engine::new(&[], ShapeBaseline::embedded_default()?, None)?;
    let mask = (1u64 << opts.bucket_bits.min(31)) - 1;
    let mut out = Vec::with_capacity(examples.len());
    let mut buf: Vec<u32> = Vec::new();
    for e in examples {
        let canonical = canonical_view(&e.text);
        let shape = engine.shape_features(&e.text);
        buf.clear();
        features::for_each(&canonical, |o| buf.push((o.hash & mask) as u32));
        let scale = 1.0 / norm(buf.len() as u64);
        buf.sort_unstable();
        let mut feats: Vec<(u32, f64)> = Vec::with_capacity(buf.len());
        for &b in &buf {
            match feats.last_mut() {
                Some((last, v)) if *last == b => *v += scale,
                _ => feats.push((b, scale)),
            }
        }
        out.push(Prepared {
            canonical,
            shape,
            features: feats,
            attack: e.attack,
            group: e.group.clone(),
        });
    }
    Ok(out)
}

/// xorshift64*: a fixed, tiny generator so the shuffle never depends on a library version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }
}

/// Row weights: within a class every group carries mass √(rows), and the attack class carries
/// `attack_mass` times the benign class's mass; normalised to a mean of 1.
fn row_weights(rows: &[&Prepared], attack_mass: f64) -> Vec<f64> {
    let mut groups: Vec<(&str, bool, usize)> = Vec::new();
    for r in rows {
        match groups
            .iter_mut()
            .find(|(g, a, _)| *g == r.group && *a == r.attack)
        {
            Some(g) => g.2 += 1,
            None => groups.push((&r.group, r.attack, 1)),
        }
    }
    let class_mass = |attack: bool| -> f64 {
        groups
            .iter()
            .filter(|g| g.1 == attack)
            .map(|g| (g.2 as f64).sqrt())
            .sum()
    };
    let (att, ben) = (class_mass(true), class_mass(false));
    let mut w: Vec<f64> = rows
        .iter()
        .map(|r| {
            let n = groups
                .iter()
                .find(|(g, a, _)| *g == r.group && *a == r.attack)
                .map_or(1, |g| g.2) as f64;
            let per_row = n.sqrt() / n;
            if r.attack {
                attack_mass * per_row / att.max(f64::MIN_POSITIVE)
            } else {
                per_row / ben.max(f64::MIN_POSITIVE)
            }
        })
        .collect();
    let mean = w.iter().sum::<f64>() / w.len().max(1) as f64;
    if mean > 0.0 {
        for x in &mut w {
            *x /= mean;
        }
    }
    w
}

/// Trains on `rows` (in the order given).
pub fn train(rows: &[&Prepared], opts: &TrainOptions) -> LearnedModel {
    let buckets = 1usize << opts.bucket_bits.clamp(10, 22);
    let n = rows.len().max(1) as f64;
    // Shape statistics of the training rows.
    let mut mean = [0.0f64; SHAPE_DIMS];
    let mut spread = [0.0f64; SHAPE_DIMS];
    for r in rows {
        for (m, x) in mean.iter_mut().zip(r.shape.0.iter()) {
            *m += x / n;
        }
    }
    for r in rows {
        for ((s, x), m) in spread.iter_mut().zip(r.shape.0.iter()).zip(mean.iter()) {
            *s += (x - m) * (x - m) / n;
        }
    }
    for s in &mut spread {
        *s = s.sqrt().max(1e-3);
    }
    let shape_x: Vec<[f64; SHAPE_DIMS]> = rows
        .iter()
        .map(|r| {
            let mut x = [0.0; SHAPE_DIMS];
            for (k, v) in x.iter_mut().enumerate() {
                if let (Some(f), Some(m), Some(s)) = (r.shape.0.get(k), mean.get(k), spread.get(k))
                {
                    *v = features::squash((f - m) / s);
                }
            }
            x
        })
        .collect();
    let weights = row_weights(rows, opts.attack_mass);

    let mut w = vec![0.0f64; buckets];
    let mut g2 = vec![0.0f64; buckets];
    let mut sw = [0.0f64; SHAPE_DIMS];
    let mut sg2 = [0.0f64; SHAPE_DIMS];
    let mut bias = 0.0f64;
    let mut bg2 = 0.0f64;
    let eps = 1e-8;
    let lr = opts.learning_rate;
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut rng = Rng(opts.seed | 1);
    for _ in 0..opts.epochs {
        for i in (1..order.len()).rev() {
            let j = rng.below(i + 1);
            order.swap(i, j);
        }
        for &i in &order {
            let (Some(r), Some(sx), Some(rw)) = (rows.get(i), shape_x.get(i), weights.get(i))
            else {
                continue;
            };
            let mut z = bias;
            for &(b, v) in &r.features {
                z += w.get(b as usize).copied().unwrap_or(0.0) * v;
            }
            for (a, x) in sw.iter().zip(sx.iter()) {
                z += a * x;
            }
            let y = if r.attack { 1.0 } else { 0.0 };
            let err = (sigmoid(z) - y) * rw;
            for &(b, v) in &r.features {
                if let (Some(wi), Some(gi)) = (w.get_mut(b as usize), g2.get_mut(b as usize)) {
                    let g = err * v + opts.l2 * *wi;
                    *gi += g * g;
                    *wi -= lr * g / (gi.sqrt() + eps);
                }
            }
            for ((a, g2k), x) in sw.iter_mut().zip(sg2.iter_mut()).zip(sx.iter()) {
                let g = err * x + opts.l2 * *a;
                *g2k += g * g;
                *a -= lr * g / (g2k.sqrt() + eps);
            }
            bg2 += err * err;
            bias -= lr * err / (bg2.sqrt() + eps);
        }
    }
    let max = w.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 {
        max / f64::from(i16::MAX)
    } else {
        1.0
    };
    let weights = w
        .iter()
        .map(|x| (x / scale).round().clamp(-32767.0, 32767.0) as i16)
        .collect();
    LearnedModel {
        scale,
        bias,
        shape_mean: mean,
        shape_spread: spread,
        shape_weight: sw,
        weights,
        mask: buckets as u64 - 1,
    }
}

impl LearnedModel {
    /// Probability the model gives a prepared example, computed exactly as at scan time.
    pub fn predict(&self, p: &Prepared) -> f64 {
        self.probability(&p.canonical, &p.shape)
    }
}
