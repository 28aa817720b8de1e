//! Q4_0 / Q4_1 / Q8_0 weight blocks against Q8 activation blocks, quantized
//! and summed exactly as llama.cpp (ggml, x86) does: `d = max/127`,
//! `id = 127/max`, round half to even, Q8_1 `s = f16(d * sum)`, block terms
//! accumulated in order.
use std::ops::Range;

use half::f16;

/// The weight formats these kernels handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Q4_0,
    Q4_1,
    Q8_0,
}

impl Kind {
    /// Bytes of one 32-weight block.
    pub fn block_bytes(self) -> usize {
        match self {
            Kind::Q4_0 => 18,
            Kind::Q4_1 => 20,
            Kind::Q8_0 => 34,
        }
    }

    /// Q4_1 pairs with Q8_1 activations (which carry `s`), the others with Q8_0.
    pub fn activations_carry_sum(self) -> bool {
        self == Kind::Q4_1
    }
}

/// Quantize `x` (a whole number of 32-value blocks) for a weight of `kind`.
pub fn quantize_activations(x: &[f32], kind: Kind) -> Vec<Q8> {
    let with_s = kind.activations_carry_sum();
    x.chunks_exact(32).map(|b| quantize_q8(b, with_s)).collect()
}

/// `out[row * n + col] = dot(weight row col, activation row row)` for every
/// `col` in `cols` and every one of the `m` activation rows. `data` holds the
/// `n` weight rows of `k / 32` blocks each; `acts` the `m` rows of `k / 32`
/// activation blocks.
///
/// # Safety
/// `out` must point to `m * n` writable `f32`s, and no one else may write
/// the columns in `cols` while this runs (callers split columns between
/// threads).
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul_columns(
    kind: Kind,
    data: &[u8],
    n: usize,
    k: usize,
    acts: &[Q8],
    m: usize,
    cols: Range<usize>,
    out: *mut f32,
) {
    let nb = k / 32;
    let row_bytes = nb * kind.block_bytes();
    let avx2 = has_avx2();
    for col in cols.start..cols.end.min(n) {
        let w = &data[col * row_bytes..(col + 1) * row_bytes];
        for row in 0..m {
            let a = &acts[row * nb..(row + 1) * nb];
            // SAFETY: in bounds (row < m, col < n) and ours alone (the contract).
            unsafe { *out.add(row * n + col) = dot(kind, w, a, avx2) };
        }
    }
}

/// One activation block: ggml's `block_q8_1` (`s` unused for Q8_0).
#[derive(Clone, Copy)]
pub struct Q8 {
    pub d: f32,
    pub s: f32,
    pub qs: [i8; 32],
}

/// ggml's x86 `quantize_row_q8_1` / `quantize_row_q8_0` for one block.
pub fn quantize_q8(x: &[f32], with_s: bool) -> Q8 {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = max / 127.0;
    let id = if max != 0.0 { 127.0 / max } else { 0.0 };
    let mut qs = [0i8; 32];
    let mut sum = 0i32;
    for (q, &v) in qs.iter_mut().zip(x) {
        let r = (v * id).round_ties_even() as i32;
        *q = r as i8;
        sum += r;
    }
    let s = if with_s {
        f16::from_f32(d * sum as f32).to_f32()
    } else {
        0.0
    };
    Q8 {
        d: f16::from_f32(d).to_f32(),
        s,
        qs,
    }
}

pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

pub fn dot(kind: Kind, w: &[u8], a: &[Q8], avx2: bool) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: the CPU has AVX2 and FMA (checked at run time).
        return unsafe { dot_avx2(kind, w, a) };
    }
    let _ = avx2;
    dot_generic(kind, w, a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(kind: Kind, w: &[u8], a: &[Q8]) -> f32 {
    dot_generic(kind, w, a)
}

/// Sum over blocks of `d_w * d_x * sum(q_w * q_x)` (+ `m_w * s_x` for Q4_1),
/// in ggml's order: block terms accumulate, the min terms separately.
#[inline(always)]
fn dot_generic(kind: Kind, w: &[u8], a: &[Q8]) -> f32 {
    let bb = kind.block_bytes();
    let mut acc = 0f32;
    let mut summs = 0f32;
    for (blk, x) in w.chunks_exact(bb).zip(a) {
        let d = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
        let sumi: i32 = match kind {
            Kind::Q8_0 => blk[2..34]
                .iter()
                .zip(&x.qs)
                .map(|(&q, &y)| (q as i8 as i32) * y as i32)
                .sum(),
            Kind::Q4_0 => nibble_dot(&blk[2..18], &x.qs, 8),
            Kind::Q4_1 => {
                let m = f16::from_le_bytes([blk[2], blk[3]]).to_f32();
                summs += m * x.s;
                nibble_dot(&blk[4..20], &x.qs, 0)
            }
        };
        acc += d * x.d * sumi as f32;
    }
    acc + summs
}

/// `sum((nibble - bias) * y)` with low nibbles = elements 0..16, high = 16..32.
#[inline(always)]
fn nibble_dot(qs: &[u8], y: &[i8; 32], bias: i32) -> i32 {
    let mut s = 0i32;
    for j in 0..16 {
        let lo = (qs[j] & 0x0f) as i32 - bias;
        let hi = (qs[j] >> 4) as i32 - bias;
        s += lo * y[j] as i32 + hi * y[j + 16] as i32;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantizes_like_ggml() {
        let mut x = [0f32; 32];
        x[0] = 127.0; // d = 1, id = 1
        x[1] = -0.5; // ties to even: 0
        x[2] = 1.5; // 2
        x[3] = 2.5; // 2
        let q = quantize_q8(&x, true);
        assert_eq!((q.qs[0], q.qs[1], q.qs[2], q.qs[3]), (127, 0, 2, 2));
        assert_eq!(q.s, 131.0);
        let z = quantize_q8(&[0.0; 32], true);
        assert_eq!((z.d, z.s, z.qs[0]), (0.0, 0.0, 0));
    }

    #[test]
    fn the_vector_path_sums_like_the_plain_one() {
        // One Q4_1 row of 4 blocks with varied scales, mins and nibbles.
        let mut w = Vec::new();
        for b in 0..4u8 {
            w.extend_from_slice(&f16::from_f32(0.01 * (b as f32 + 1.0)).to_le_bytes());
            w.extend_from_slice(&f16::from_f32(-0.02 * b as f32).to_le_bytes());
            w.extend((0..16u8).map(|j| j.wrapping_mul(37).wrapping_add(b)));
        }
        let x: Vec<f32> = (0..128)
            .map(|i| (i * 53 % 97) as f32 / 48.0 - 1.0)
            .collect();
        let a = quantize_activations(&x, Kind::Q4_1);
        let plain = dot(Kind::Q4_1, &w, &a, false);
        let fast = dot(Kind::Q4_1, &w, &a, has_avx2());
        assert_eq!(plain.to_bits(), fast.to_bits());
        let mut out = [0f32; 1];
        // SAFETY: one row, one column, one output.
        unsafe { matmul_columns(Kind::Q4_1, &w, 1, 128, &a, 1, 0..1, out.as_mut_ptr()) };
        assert_eq!(out[0].to_bits(), plain.to_bits());
    }
}
