//! One (query row, head) of causal attention over a KV cache with an online
//! softmax, f32 or with llama.cpp's f16 flash-attention numerics.
use half::f16;

#[derive(Clone, Copy)]
pub struct Shape {
    /// Query rows in this call.
    pub l: usize,
    /// Query heads.
    pub nh: usize,
    /// Key/value heads (grouped-query attention when fewer than `nh`).
    pub nkv: usize,
    /// Head size.
    pub d: usize,
    /// Cached positions before the first query row.
    pub offset: usize,
    /// Score scale, `1 / sqrt(d)`.
    pub scale: f32,
}

/// A row kernel: `(shape, q row, keys, values, row index, head, out)`.
pub type RowFn<T> = fn(&Shape, &[f32], &[T], &[T], usize, usize, &mut [f32]);

/// f32 cache: plain online softmax in f32.
pub fn row_f32(sh: &Shape, q: &[f32], k: &[f32], v: &[f32], i: usize, h: usize, dst: &mut [f32]) {
    let (d, kvh) = (sh.d, h / (sh.nh / sh.nkv));
    let stride = sh.nkv * d;
    let mut m = f32::NEG_INFINITY;
    let mut sum = 0f32;
    dst.fill(0.0);
    for j in 0..=sh.offset + i {
        let base = j * stride + kvh * d;
        let krow = &k[base..base + d];
        let score = q.iter().zip(krow).map(|(a, b)| a * b).sum::<f32>() * sh.scale;
        let (ms, vs) = if score > m {
            let ms = (m - score).exp();
            m = score;
            (ms, 1.0)
        } else {
            (1.0, (score - m).exp())
        };
        let vrow = &v[base..base + d];
        for (a, &x) in dst.iter_mut().zip(vrow) {
            *a = *a * ms + x * vs;
        }
        sum = sum * ms + vs;
    }
    let inv = 1.0 / sum;
    dst.iter_mut().for_each(|a| *a *= inv);
}

/// f16 cache, llama.cpp's numerics: q rounded to f16, f32 scores, f16 value
/// accumulator rescaled in place.
pub fn row_f16(sh: &Shape, q: &[f32], k: &[f16], v: &[f16], i: usize, h: usize, dst: &mut [f32]) {
    let (d, kvh) = (sh.d, h / (sh.nh / sh.nkv));
    let stride = sh.nkv * d;
    let q16: Vec<f32> = q.iter().map(|&x| f16::from_f32(x).to_f32()).collect();
    let mut acc = vec![f16::ZERO; d];
    let mut m = f32::NEG_INFINITY;
    let mut sum = 0f32;
    for j in 0..=sh.offset + i {
        let base = j * stride + kvh * d;
        let krow = &k[base..base + d];
        let score = q16
            .iter()
            .zip(krow)
            .map(|(a, b)| a * b.to_f32())
            .sum::<f32>()
            * sh.scale;
        let mut ms = 1.0f32;
        let mut vs = 1.0f32;
        if score > m {
            ms = (m - score).exp();
            m = score;
            for a in acc.iter_mut() {
                *a = f16::from_f32(a.to_f32() * ms);
            }
        } else {
            vs = (score - m).exp();
        }
        let vrow = &v[base..base + d];
        for (a, x) in acc.iter_mut().zip(vrow) {
            *a = f16::from_f32(a.to_f32() + x.to_f32() * vs);
        }
        sum = sum * ms + vs;
    }
    let inv = 1.0 / sum;
    for (o, a) in dst.iter_mut().zip(&acc) {
        *o = a.to_f32() * inv;
    }
}
