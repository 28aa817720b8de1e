//! One (query row, head) of causal attention over a KV cache with an online
//! softmax, f32 or with llama.cpp's f16 flash-attention numerics.
use std::ops::Range;

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
    /// Threads llama.cpp would split a long decode step between (its
    /// split-KV kernel's result depends on the split).
    pub threads: usize,
}

/// A row kernel: `(shape, q, keys, values, row index, heads, out)`, where
/// `q` and `out` hold the row's `heads` one after the other (`d` each).
pub type RowFn<T> = fn(&Shape, &[f32], &[T], &[T], usize, Range<usize>, &mut [f32]);

/// f32 cache: scores for every visible key, then one softmax and one
/// weighted sum of the values (exact f32, not llama.cpp's rounding).
pub fn row_f32(
    sh: &Shape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    i: usize,
    heads: Range<usize>,
    dst: &mut [f32],
) {
    let d = sh.d;
    for (j, h) in heads.enumerate() {
        let (qh, out) = (&q[j * d..(j + 1) * d], &mut dst[j * d..(j + 1) * d]);
        #[cfg(target_arch = "x86_64")]
        if fast() {
            // SAFETY: the CPU has AVX2, FMA and F16C (checked once).
            unsafe { row_f32_avx2(sh, qh, k, v, i, h, out) };
            continue;
        }
        row_f32_body(sh, qh, k, v, i, h, out)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn row_f32_avx2(
    sh: &Shape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    i: usize,
    h: usize,
    dst: &mut [f32],
) {
    row_f32_body(sh, q, k, v, i, h, dst)
}

#[inline(always)]
fn row_f32_body(sh: &Shape, q: &[f32], k: &[f32], v: &[f32], i: usize, h: usize, dst: &mut [f32]) {
    let (d, kvh) = (sh.d, h / (sh.nh / sh.nkv));
    let stride = sh.nkv * d;
    let n = sh.offset + i + 1;
    // The buffer leaves the thread-local for the work: code in a closure
    // would not be compiled with this function's target features.
    let mut scores = SCORES.with(|c| c.take());
    scores.clear();
    for j in 0..n {
        let base = j * stride + kvh * d;
        scores.push(dot8(q, &k[base..base + d]) * sh.scale);
    }
    let m = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for s in scores.iter_mut() {
        *s = (*s - m).exp();
        sum += *s;
    }
    dst.fill(0.0);
    for (j, &p) in scores.iter().enumerate() {
        let base = j * stride + kvh * d;
        for (a, &x) in dst.iter_mut().zip(&v[base..base + d]) {
            *a = x.mul_add(p, *a);
        }
    }
    let inv = 1.0 / sum;
    dst.iter_mut().for_each(|a| *a *= inv);
    SCORES.with(|c| c.replace(scores));
}

thread_local! {
    /// Per-thread score buffer (one row's keys: up to the context length).
    static SCORES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A dot product in eight independent lanes (vectorises; f32 path only).
#[inline(always)]
fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let mut s = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            s[l] = x[l].mul_add(y[l], s[l]);
        }
    }
    ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7])) + tail
}

/// AVX2 + FMA + F16C, checked once.
fn fast() -> bool {
    static FAST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FAST.get_or_init(crate::quant::has_avx2)
}

/// Bytes of one cached head of `d` values in q8_0 (`d / 32` blocks).
pub fn q8_0_head_bytes(d: usize) -> usize {
    d / 32 * 34
}

/// q8_0 cache (llama.cpp's `--cache-type-k/v q8_0`), its numerics: the
/// only kernel llama.cpp runs for a quantized cache is
/// `flash_attn_ext_f16_one_chunk`, with the query quantized to q8_0 like
/// the keys, scores by `ggml_vec_dot_q8_0_q8_0`, each value row
/// dequantized to f32 and added by fused multiply-adds into an f32
/// accumulator, the softmax sum fused as GCC compiles `S = S*ms + vs`.
/// `k` and `v` hold `d / 32` ggml blocks per position and head.
pub fn row_q8_0(
    sh: &Shape,
    q: &[f32],
    k: &[u8],
    v: &[u8],
    i: usize,
    heads: Range<usize>,
    dst: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if fast() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked once).
        return unsafe { row_q8_0_avx2(sh, q, k, v, i, heads, dst) };
    }
    row_q8_0_body(sh, q, k, v, i, heads, dst)
}

/// `row_q8_0` compiled for AVX2/FMA: its fused multiply-adds are single
/// instructions (a libm call each without).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn row_q8_0_avx2(
    sh: &Shape,
    q: &[f32],
    k: &[u8],
    v: &[u8],
    i: usize,
    heads: Range<usize>,
    dst: &mut [f32],
) {
    row_q8_0_body(sh, q, k, v, i, heads, dst)
}

#[inline(always)]
fn row_q8_0_body(
    sh: &Shape,
    q: &[f32],
    k: &[u8],
    v: &[u8],
    i: usize,
    heads: Range<usize>,
    dst: &mut [f32],
) {
    use crate::quant::{dot, quantize_activations, Kind};
    let d = sh.d;
    let hb = q8_0_head_bytes(d);
    let stride = sh.nkv * hb;
    let mut vrow = vec![0f32; d];
    for (j, h) in heads.enumerate() {
        let (qh, out) = (&q[j * d..(j + 1) * d], &mut dst[j * d..(j + 1) * d]);
        let qq = quantize_activations(qh, Kind::Q8_0);
        let base_h = h / (sh.nh / sh.nkv) * hb;
        let (mut m, mut s) = (f32::NEG_INFINITY, 0f32);
        out.fill(0.0);
        for pos in 0..sh.offset + i + 1 {
            let base = pos * stride + base_h;
            let score = dot(Kind::Q8_0, &k[base..base + hb], &qq) * sh.scale;
            let (mut ms, mut vs) = (1f32, 1f32);
            if score > m {
                ms = (m - score).exp();
                m = score;
                out.iter_mut().for_each(|a| *a *= ms);
            } else {
                vs = (score - m).exp();
            }
            dequantize_q8_0(&v[base..base + hb], &mut vrow);
            for (a, &x) in out.iter_mut().zip(&vrow) {
                *a = x.mul_add(vs, *a);
            }
            s = s.mul_add(ms, vs);
        }
        let inv = if s == 0.0 { 0.0 } else { 1.0 / s };
        out.iter_mut().for_each(|a| *a *= inv);
    }
}

/// Query rows `rows_q8_0` walks the keys with at once.
pub const Q8_0_ROWS: usize = 16;

/// Keys `rows_q8_0` scores, dequantizes and adds at a time.
const Q8_0_KEYS: usize = 16;

/// `row_q8_0` for the query rows `rows` (at most `Q8_0_ROWS`) of head `h`,
/// reading each key and value once for all of them. Per block of keys:
/// scores four rows at a time (`quant::dots`), the value rows dequantized
/// once; then per row its running maximum and its one `expf` per key (the
/// rescale where the score is a new maximum, else the weight), four keys
/// at a time where `libm_exp` gives this libm's bits, and the values added
/// a slice of the head at a time, the slice held in registers across the
/// block. Every value still takes `row_q8_0`'s operations in its order, so
/// the bits are its. `q` is the whole chunk `(l, nh, d)`; returns the
/// rows' outputs, `rows.len() * d`.
pub fn rows_q8_0(
    sh: &Shape,
    q: &[f32],
    k: &[u8],
    v: &[u8],
    rows: Range<usize>,
    h: usize,
) -> Vec<f32> {
    assert!(rows.len() <= Q8_0_ROWS, "at most Q8_0_ROWS rows");
    #[cfg(target_arch = "x86_64")]
    if fast() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked once).
        return unsafe { rows_q8_0_avx2(sh, q, k, v, rows, h) };
    }
    rows_q8_0_body::<false>(sh, q, k, v, rows, h)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows_q8_0_avx2(
    sh: &Shape,
    q: &[f32],
    k: &[u8],
    v: &[u8],
    rows: Range<usize>,
    h: usize,
) -> Vec<f32> {
    rows_q8_0_body::<true>(sh, q, k, v, rows, h)
}

/// The kernel; `SIMD` only under AVX2 + FMA + F16C (`rows_q8_0_avx2`).
#[inline(always)]
fn rows_q8_0_body<const SIMD: bool>(
    sh: &Shape,
    q: &[f32],
    k: &[u8],
    v: &[u8],
    rows: Range<usize>,
    h: usize,
) -> Vec<f32> {
    use crate::quant::{dots, quantize_activations, Kind, Q8};
    const FOUR: usize = 4;
    let (d, nq) = (sh.d, rows.len());
    let (hb, nb) = (q8_0_head_bytes(d), d / 32);
    let stride = sh.nkv * hb;
    let base_h = h / (sh.nh / sh.nkv) * hb;
    // The rows' queries as q8_0, padded to whole fours with the last row
    // (its extra scores are not used).
    let mut qq: Vec<Q8> = Vec::with_capacity(nq.next_multiple_of(FOUR) * nb);
    for i in rows.clone() {
        qq.extend(quantize_activations(
            &q[(i * sh.nh + h) * d..(i * sh.nh + h + 1) * d],
            Kind::Q8_0,
        ));
    }
    while qq.len() < nq.next_multiple_of(FOUR) * nb {
        qq.extend_from_within((nq - 1) * nb..nq * nb);
    }
    let mut acc = vec![0f32; nq * d];
    let (mut m, mut s) = ([f32::NEG_INFINITY; Q8_0_ROWS], [0f32; Q8_0_ROWS]);
    // scores[key][row] of a block, and its value rows dequantized.
    let mut scores = [[0f32; Q8_0_ROWS]; Q8_0_KEYS];
    let mut values = vec![0f32; Q8_0_KEYS * d];
    let vector_exp = SIMD && crate::libm_exp::available();
    let n_keys = sh.offset + rows.end;
    for k0 in (0..n_keys).step_by(Q8_0_KEYS) {
        let keys = Q8_0_KEYS.min(n_keys - k0);
        // The next block's keys and values: a head's are one run of 34-byte
        // blocks a position apart (`stride`), which the hardware does not
        // fetch ahead (measured: 37 against 16 ns a row and key with 16
        // heads' interleaved against 2).
        #[cfg(target_arch = "x86_64")]
        for t in k0 + Q8_0_KEYS..(k0 + 2 * Q8_0_KEYS).min(n_keys) {
            for cache in [k, v] {
                let at = cache[t * stride + base_h..].as_ptr();
                for line in (0..hb).step_by(64).chain([hb - 1]) {
                    // SAFETY: a hint only; the address is inside `cache`.
                    unsafe {
                        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                            at.add(line) as *const i8,
                        )
                    };
                }
            }
        }
        for t in 0..keys {
            // Rows from `first` on see this key (a row sees keys up to its own).
            let first = ((k0 + t).saturating_sub(sh.offset)).saturating_sub(rows.start);
            let base = (k0 + t) * stride + base_h;
            let key = &k[base..base + hb];
            for f in (first - first % FOUR..nq).step_by(FOUR) {
                let a: [&[Q8]; FOUR] = std::array::from_fn(|r| &qq[(f + r) * nb..(f + r + 1) * nb]);
                let four = dots(Kind::Q8_0, key, a);
                let take = (nq - f).min(FOUR);
                scores[t][f..f + take].copy_from_slice(&four[..take]);
            }
            dequantize_q8_0(&v[base..base + hb], &mut values[t * d..(t + 1) * d]);
        }
        for r in 0..nq {
            // Keys k0.. this row sees in the block.
            let seen = (sh.offset + rows.start + r + 1)
                .saturating_sub(k0)
                .min(keys);
            let mut arg = [0f32; Q8_0_KEYS];
            let mut new_max = [false; Q8_0_KEYS];
            for t in 0..seen {
                let score = scores[t][r] * sh.scale;
                new_max[t] = score > m[r];
                arg[t] = if new_max[t] {
                    let a = m[r] - score;
                    m[r] = score;
                    a
                } else {
                    score - m[r]
                };
            }
            let e = exps(&arg[..seen], vector_exp);
            let (mut ms, mut vs) = ([1f32; Q8_0_KEYS], [1f32; Q8_0_KEYS]);
            for t in 0..seen {
                if new_max[t] {
                    ms[t] = e[t];
                } else {
                    vs[t] = e[t];
                }
                s[r] = s[r].mul_add(ms[t], vs[t]);
            }
            let out = &mut acc[r * d..(r + 1) * d];
            let weights = Weights {
                new_max: &new_max[..seen],
                ms: &ms,
                vs: &vs,
            };
            #[cfg(target_arch = "x86_64")]
            if SIMD {
                // SAFETY: SIMD is only set under AVX2 + FMA.
                unsafe { add_values_avx2(out, &values, d, &weights) };
                continue;
            }
            add_values(out, &values, d, &weights);
        }
    }
    for (r, out) in acc.chunks_exact_mut(d).enumerate() {
        let inv = if s[r] == 0.0 { 0.0 } else { 1.0 / s[r] };
        out.iter_mut().for_each(|a| *a *= inv);
    }
    acc
}

/// A row's factors for a block of keys: where the score was a new maximum
/// (the accumulator rescaled by `ms` first), and each value's weight `vs`.
struct Weights<'a> {
    new_max: &'a [bool],
    ms: &'a [f32; Q8_0_KEYS],
    vs: &'a [f32; Q8_0_KEYS],
}

/// `out = out * ms (new maxima only); out = fma(value, vs, out)` for each
/// key of the block in order, element by element (`row_q8_0`'s steps).
fn add_values(out: &mut [f32], values: &[f32], d: usize, w: &Weights) {
    for (t, &new_max) in w.new_max.iter().enumerate() {
        if new_max {
            out.iter_mut().for_each(|a| *a *= w.ms[t]);
        }
        for (a, &x) in out.iter_mut().zip(&values[t * d..(t + 1) * d]) {
            *a = x.mul_add(w.vs[t], *a);
        }
    }
}

/// `add_values` 32 elements at a time, held in four registers across the
/// block's keys (the same operations per element, in the same order).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn add_values_avx2(out: &mut [f32], values: &[f32], d: usize, w: &Weights) {
    use std::arch::x86_64::*;
    debug_assert!(d.is_multiple_of(32) && out.len() == d);
    for e0 in (0..d).step_by(32) {
        let o = out.as_mut_ptr().add(e0);
        let mut a: [__m256; 4] = std::array::from_fn(|j| _mm256_loadu_ps(o.add(8 * j)));
        for (t, &new_max) in w.new_max.iter().enumerate() {
            if new_max {
                let ms = _mm256_set1_ps(w.ms[t]);
                for x in a.iter_mut() {
                    *x = _mm256_mul_ps(*x, ms);
                }
            }
            let vs = _mm256_set1_ps(w.vs[t]);
            let v = values.as_ptr().add(t * d + e0);
            for (j, x) in a.iter_mut().enumerate() {
                *x = _mm256_fmadd_ps(_mm256_loadu_ps(v.add(8 * j)), vs, *x);
            }
        }
        for (j, x) in a.iter().enumerate() {
            _mm256_storeu_ps(o.add(8 * j), *x);
        }
    }
}

/// `expf` of each of `x` (at most `Q8_0_KEYS`), four at a time with
/// `libm_exp` where `vector` (it gives this libm's bits there), else one
/// by one.
#[inline(always)]
fn exps(x: &[f32], vector: bool) -> [f32; Q8_0_KEYS] {
    let mut out = [0f32; Q8_0_KEYS];
    #[cfg(target_arch = "x86_64")]
    if vector {
        for (f, four) in x.chunks(4).enumerate() {
            let lanes: [f32; 4] = std::array::from_fn(|l| four.get(l).copied().unwrap_or(0.0));
            // SAFETY: `libm_exp::available` checked AVX2 + FMA.
            let e = unsafe { crate::libm_exp::exp4_avx2(lanes) };
            out[4 * f..4 * f + four.len()].copy_from_slice(&e[..four.len()]);
        }
        return out;
    }
    let _ = vector;
    for (o, &x) in out.iter_mut().zip(x) {
        *o = x.exp();
    }
    out
}

/// Each row of `n` values (a power of two) of `x` through ggml's fast
/// Walsh-Hadamard transform (`ggml_compute_forward_fwht`): scaled by
/// `1 / sqrt(n)` first, then butterflies `(u + v, u - v)` at strides 1, 2,
/// 4, ..., the orthonormal rotation llama.cpp applies to queries, keys and
/// values (and back to the attention output) with a quantized cache.
pub fn fwht_rows(x: &mut [f32], n: usize) {
    assert!(n.is_power_of_two() && x.len().is_multiple_of(n));
    let scale = 1.0 / (n as f32).sqrt();
    for row in x.chunks_exact_mut(n) {
        row.iter_mut().for_each(|v| *v *= scale);
        let mut len = 1;
        while len < n {
            for i in (0..n).step_by(2 * len) {
                for j in i..i + len {
                    let (u, v) = (row[j], row[j + len]);
                    row[j] = u + v;
                    row[j + len] = u - v;
                }
            }
            len *= 2;
        }
    }
}

/// ggml's `dequantize_row_q8_0`: each value `q * d`.
#[inline(always)]
fn dequantize_q8_0(blocks: &[u8], out: &mut [f32]) {
    for (b, o) in blocks.chunks_exact(34).zip(out.chunks_exact_mut(32)) {
        let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
        for (x, &q) in o.iter_mut().zip(&b[2..]) {
            *x = q as i8 as f32 * d;
        }
    }
}

/// `x` (whole 32-value blocks) as ggml q8_0 blocks, as llama.cpp stores a
/// q8_0 cache (`quantize_row_q8_0`).
pub fn quantize_q8_0_blocks(x: &[f32], out: &mut Vec<u8>) {
    use crate::quant::{quantize_activations, Kind};
    for b in quantize_activations(x, Kind::Q8_0) {
        out.extend_from_slice(&f16::from_f32(b.d).to_le_bytes());
        out.extend(b.qs.iter().map(|&q| q as u8));
    }
}

/// f16 cache, llama.cpp's numerics (`flash_attn_ext_f16_one_chunk`): q
/// rounded to f16, scores by `ggml_vec_dot_f16` (lanes as `lanes` says),
/// an f16 value accumulator updated by fused multiply-adds and rescaled in
/// place, the softmax sum fused as GCC compiles `S = S*ms + vs`. The heads
/// of a call step through the keys together: each key's update waits on
/// the last one's (through the accumulator), and independent heads fill
/// that wait.
pub fn row_f16(
    sh: &Shape,
    q: &[f32],
    k: &[f16],
    v: &[f16],
    i: usize,
    heads: Range<usize>,
    dst: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if fast() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked once).
        return unsafe { row_f16_avx2(sh, q, k, v, i, heads, dst) };
    }
    row_f16_body(sh, q, k, v, i, heads, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn row_f16_avx2(
    sh: &Shape,
    q: &[f32],
    k: &[f16],
    v: &[f16],
    i: usize,
    heads: Range<usize>,
    dst: &mut [f32],
) {
    row_f16_body(sh, q, k, v, i, heads, dst)
}

/// Rounds to f16 and back (what storing into ggml's f16 accumulator does).
#[inline(always)]
fn via_f16(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// `acc = f16(acc * s)`: ggml's `ggml_vec_scale_f16`.
#[inline(always)]
fn scale_f16(acc: &mut [f32], s: f32) {
    #[cfg(target_arch = "x86_64")]
    if fast() {
        // SAFETY: F16C/AVX2 present (checked once).
        return unsafe { f16_update_avx2(acc, None, s) };
    }
    acc.iter_mut().for_each(|a| *a = via_f16(*a * s));
}

/// `acc = f16(fma(x, s, acc))` over f16 values: ggml's `ggml_vec_mad_f16`.
#[inline(always)]
fn mad_f16(acc: &mut [f32], x: &[f16], s: f32) {
    #[cfg(target_arch = "x86_64")]
    if fast() {
        // SAFETY: F16C/AVX2/FMA present (checked once).
        return unsafe { f16_update_avx2(acc, Some(x), s) };
    }
    for (a, v) in acc.iter_mut().zip(x) {
        *a = via_f16(v.to_f32().mul_add(s, *a));
    }
}

/// Eight values at a time: `fma(x, s, acc)` (x read as f16) or `acc * s`,
/// rounded to f16 (round to nearest even, as ggml's
/// `_mm256_cvtps_ph(.., 0)`) and back.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16_update_avx2(acc: &mut [f32], x: Option<&[f16]>, s: f32) {
    use std::arch::x86_64::*;
    let sv = _mm256_set1_ps(s);
    let n8 = acc.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        let a = _mm256_loadu_ps(acc.as_ptr().add(i));
        let r = match x {
            Some(x) => {
                let v = _mm_loadu_si128(x.as_ptr().add(i) as *const __m128i);
                _mm256_fmadd_ps(_mm256_cvtph_ps(v), sv, a)
            }
            None => _mm256_mul_ps(a, sv),
        };
        let r = _mm256_cvtph_ps(_mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(r));
        _mm256_storeu_ps(acc.as_mut_ptr().add(i), r);
    }
    for i in n8..acc.len() {
        acc[i] = via_f16(match x {
            Some(x) => x[i].to_f32().mul_add(s, acc[i]),
            None => acc[i] * s,
        });
    }
}

#[inline(always)]
fn row_f16_body(
    sh: &Shape,
    q: &[f32],
    k: &[f16],
    v: &[f16],
    i: usize,
    heads: Range<usize>,
    dst: &mut [f32],
) {
    if splits_kv(sh) && heads == (0..sh.nh) {
        let parts: Vec<_> = (0..split_kv_parts(sh))
            .map(|t| split_kv_part_body(sh, q, k, v, t))
            .collect();
        return merge_split_kv(sh, &parts, dst);
    }
    assert!(
        !splits_kv(sh),
        "a split decode step takes every head at once"
    );
    let q16: Vec<f32> = q.iter().map(|&x| via_f16(x)).collect();
    let n_vis = sh.offset + i + 1;
    let parts = chunk_f16(sh, &q16, k, v, heads, 0..n_vis);
    for (part, out) in parts.iter().zip(dst.chunks_exact_mut(sh.d)) {
        let inv = 1.0 / part.s;
        for (o, &a) in out.iter_mut().zip(&part.acc) {
            *o = a * inv;
        }
    }
}

/// KV cells llama.cpp's graph spans for `n` used positions: a multiple of
/// 256, at least 256 (`llama_kv_cache::get_n_kv`).
fn padded_cells(n: usize) -> usize {
    n.div_ceil(256).max(1) * 256
}

static SPLIT_THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Splits long decode steps as llama.cpp run with `n` threads would
/// (`0`: as many as this process computes with). Reference outputs made
/// with `-t n` replay exactly with it on a machine of any size.
pub fn set_split_threads(n: usize) {
    SPLIT_THREADS.store(n, std::sync::atomic::Ordering::Relaxed);
}

/// One query over at least this many cells: llama.cpp splits the keys
/// between threads and merges the partial softmaxes.
const SPLIT_KV_MIN: usize = 512;

/// The online softmax over some keys, unnormalised: running max, sum and
/// the f16 value accumulator (held as f32).
pub struct Partial {
    m: f32,
    s: f32,
    acc: Vec<f32>,
}

#[inline(always)]
fn chunk_f16(
    sh: &Shape,
    q16: &[f32],
    k: &[f16],
    v: &[f16],
    heads: Range<usize>,
    keys: Range<usize>,
) -> Vec<Partial> {
    let d = sh.d;
    let stride = sh.nkv * d;
    let lanes = DotLanes::detect();
    // f16 values widened exactly; the accumulators hold f16 values as f32.
    let mut krow = vec![0f32; d];
    let mut parts: Vec<Partial> = heads
        .clone()
        .map(|_| Partial {
            m: f32::NEG_INFINITY,
            s: 0.0,
            acc: vec![0f32; d],
        })
        .collect();
    let kv_of: Vec<usize> = heads.map(|h| h / (sh.nh / sh.nkv) * d).collect();
    for j in keys {
        for (hi, p) in parts.iter_mut().enumerate() {
            let base = j * stride + kv_of[hi];
            let qh = &q16[hi * d..(hi + 1) * d];
            let score = fast_dot_f16(lanes, qh, &k[base..base + d]).unwrap_or_else(|| {
                widen::<false>(&k[base..base + d], &mut krow);
                dot_f16(lanes, qh, &krow)
            }) * sh.scale;
            let mut ms = 1.0f32;
            let mut vs = 1.0f32;
            if score > p.m {
                ms = (p.m - score).exp();
                p.m = score;
                scale_f16(&mut p.acc, ms);
            } else {
                vs = (score - p.m).exp();
            }
            mad_f16(&mut p.acc, &v[base..base + d], vs);
            p.s = p.s.mul_add(ms, vs);
        }
    }
    parts
}

/// Whether a chunk of `sh` is a decode step llama.cpp splits by keys: one
/// query over at least `SPLIT_KV_MIN` padded cells.
pub fn splits_kv(sh: &Shape) -> bool {
    sh.l == 1 && padded_cells(sh.offset + 1) >= SPLIT_KV_MIN
}

/// The number of key ranges a split decode step takes (llama.cpp's thread
/// count: `set_split_threads`, else the pool's).
pub fn split_kv_parts(sh: &Shape) -> usize {
    match SPLIT_THREADS.load(std::sync::atomic::Ordering::Relaxed) {
        0 => sh.threads.max(1),
        n => n,
    }
}

/// Part `t` of a split decode step (see `splits_kv`) for every head: llama.cpp's
/// thread `t` of `split_kv_parts` takes cells `t * ceil(cells / parts)..`,
/// masked cells (past the query) skipped. `q` holds the row's heads.
pub fn split_kv_part(sh: &Shape, q: &[f32], k: &[f16], v: &[f16], t: usize) -> Vec<Partial> {
    #[cfg(target_arch = "x86_64")]
    if fast() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked once).
        return unsafe { split_kv_part_avx2(sh, q, k, v, t) };
    }
    split_kv_part_body(sh, q, k, v, t)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn split_kv_part_avx2(
    sh: &Shape,
    q: &[f32],
    k: &[f16],
    v: &[f16],
    t: usize,
) -> Vec<Partial> {
    split_kv_part_body(sh, q, k, v, t)
}

#[inline(always)]
fn split_kv_part_body(sh: &Shape, q: &[f32], k: &[f16], v: &[f16], t: usize) -> Vec<Partial> {
    let q16: Vec<f32> = q.iter().map(|&x| via_f16(x)).collect();
    let n_vis = sh.offset + 1;
    let cells = padded_cells(n_vis);
    let chunk = cells.div_ceil(split_kv_parts(sh));
    let start = (t * chunk).min(n_vis);
    let end = (start + chunk).min(n_vis);
    chunk_f16(sh, &q16, k, v, 0..sh.nh, start..end)
}

/// Merges the parts of a split decode step in order into `dst` (all heads),
/// fused as GCC compiles `a * so + b * sn`; parts with no keys are skipped.
pub fn merge_split_kv(sh: &Shape, parts: &[Vec<Partial>], dst: &mut [f32]) {
    let d = sh.d;
    dst.fill(0.0);
    for (hi, out) in dst.chunks_exact_mut(d).enumerate() {
        let mut m = f32::NEG_INFINITY;
        let mut s = 0f32;
        for part in parts.iter().map(|p| &p[hi]) {
            if part.s == 0.0 {
                continue;
            }
            let m_new = m.max(part.m);
            let so = (m - m_new).exp();
            let sn = (part.m - m_new).exp();
            for (o, &a) in out.iter_mut().zip(&part.acc) {
                *o = o.mul_add(so, a * sn);
            }
            s = s.mul_add(so, part.s * sn);
            m = m_new;
        }
        if s != 0.0 {
            let inv = 1.0 / s;
            out.iter_mut().for_each(|a| *a *= inv);
        }
    }
}

/// The lane layout of ggml's `ggml_vec_dot_f16` on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DotLanes {
    /// AVX-512: four 16-lane accumulators.
    X16,
    /// AVX: four 8-lane accumulators.
    X8,
    /// No SIMD: one f64 sum.
    Serial,
}

impl DotLanes {
    pub fn detect() -> Self {
        static LANES: std::sync::OnceLock<DotLanes> = std::sync::OnceLock::new();
        *LANES.get_or_init(|| {
            match crate::simd_override() {
                Some(crate::Simd::Avx512) => return DotLanes::X16,
                Some(crate::Simd::Avx2) => return DotLanes::X8,
                None => {}
            }
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx512f") {
                    return DotLanes::X16;
                }
                if std::is_x86_feature_detected!("avx") && std::is_x86_feature_detected!("f16c") {
                    return DotLanes::X8;
                }
            }
            DotLanes::Serial
        })
    }
}

/// `dot_f16` straight from the f16 keys with AVX2/F16C, where the CPU has
/// them and the layout is a SIMD one (`None` otherwise).
#[inline(always)]
fn fast_dot_f16(lanes: DotLanes, q: &[f32], k: &[f16]) -> Option<f32> {
    #[cfg(target_arch = "x86_64")]
    if fast() && lanes != DotLanes::Serial {
        // SAFETY: AVX2/FMA/F16C present (checked once); q and k are d long.
        return Some(unsafe { dot_f16_avx2(lanes == DotLanes::X16, q, k) });
    }
    let _ = (lanes, q, k);
    None
}

/// `dot_f16`'s sums, eight lanes per register: the 16-lane layout keeps
/// each accumulator in two registers (lanes 0-7, 8-15).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::needless_range_loop)] // r indexes registers and offsets alike
unsafe fn dot_f16_avx2(x16: bool, q: &[f32], k: &[f16]) -> f32 {
    use std::arch::x86_64::*;
    let n = q.len().min(k.len());
    let (qp, kp) = (q.as_ptr(), k.as_ptr() as *const u16);
    let mut acc = [_mm256_setzero_ps(); 8];
    let (step, regs) = if x16 { (64, 8) } else { (32, 4) };
    let np = n / step * step;
    let mut i = 0;
    while i < np {
        for r in 0..regs {
            // Products of f16 values are exact in f32: fused or not, the same.
            let x = _mm256_loadu_ps(qp.add(i + 8 * r));
            let y = _mm256_cvtph_ps(_mm_loadu_si128(kp.add(i + 8 * r) as *const __m128i));
            acc[r] = _mm256_fmadd_ps(x, y, acc[r]);
        }
        i += step;
    }
    let mut l = [0f32; 8];
    let total = if x16 {
        // Accumulator j is registers (2j, 2j+1): fold (0+2)+(1+3) per half,
        // then GCC's _mm512_reduce_add_ps: high half + low half, then
        // hsum_float_8's order.
        let lo = _mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6]));
        let hi = _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7]));
        _mm256_storeu_ps(l.as_mut_ptr(), _mm256_add_ps(hi, lo));
        (((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))) as f64
    } else {
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
        _mm256_storeu_ps(l.as_mut_ptr(), s);
        let t: [f32; 4] = [l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]];
        ((t[0] + t[1]) + (t[2] + t[3])) as f64
    };
    let mut sumf = total;
    for j in np..n {
        sumf += (*qp.add(j) * k[j].to_f32()) as f64;
    }
    sumf as f32
}

/// `ggml_vec_dot_f16` over f16 values (widened to f32; their products are
/// exact, so only the order of the sums matters): four vectors of lanes
/// accumulate each step of `4 * lanes` elements, then fold pairwise, then
/// the lanes reduce as GCC's `_mm512_reduce_add_ps` / ggml's AVX `hadd`
/// sequence does; elements past the last whole step add in f64.
#[inline(always)]
pub fn dot_f16(lanes: DotLanes, q: &[f32], k: &[f32]) -> f32 {
    let n = q.len();
    let epr = match lanes {
        DotLanes::X16 => 16,
        DotLanes::X8 => 8,
        DotLanes::Serial => {
            let s: f64 = q.iter().zip(k).map(|(a, b)| (a * b) as f64).sum();
            return s as f32;
        }
    };
    let step = 4 * epr;
    let np = n / step * step;
    let mut acc = [[0f32; 16]; 4];
    for i in (0..np).step_by(step) {
        for (jj, lane_acc) in acc.iter_mut().enumerate() {
            let at = i + jj * epr;
            for (l, a) in lane_acc[..epr].iter_mut().enumerate() {
                *a += q[at + l] * k[at + l];
            }
        }
    }
    let mut s = [0f32; 16];
    for (l, x) in s[..epr].iter_mut().enumerate() {
        *x = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    }
    let mut sumf = if epr == 16 {
        let t3: [f32; 8] = std::array::from_fn(|i| s[8 + i] + s[i]);
        let t6: [f32; 4] = std::array::from_fn(|i| t3[4 + i] + t3[i]);
        ((t6[0] + t6[2]) + (t6[1] + t6[3])) as f64
    } else {
        let t0: [f32; 4] = std::array::from_fn(|i| s[i] + s[4 + i]);
        ((t0[0] + t0[1]) + (t0[2] + t0[3])) as f64
    };
    for (a, b) in q[np..].iter().zip(&k[np..]) {
        sumf += (a * b) as f64;
    }
    sumf as f32
}

/// Chunks of at least this many query rows go through llama.cpp's tiled
/// kernel (`GGML_FA_TILE_Q`); keys are taken this many at a time too.
pub const TILE: usize = 64;

/// llama.cpp's tiled CPU flash attention (`flash_attn_ext_tiled`), which it
/// runs for batches of 64+ query rows, for the query rows `rows` of head `h`.
/// Its numerics differ from the one-row kernel: the query stays f32, scores
/// are sequential fused chains over the head dimension, each 64-key tile
/// takes its maximum, exponentials come from ggml's vector `exp` summed per
/// vector into an f64, and the value accumulator is f32. `q` is the whole
/// chunk `(l, nh, d)`; returns the rows' outputs, `rows.len() * d`.
pub fn tile_f16(
    sh: &Shape,
    q: &[f32],
    k: &[f16],
    v: &[f16],
    rows: std::ops::Range<usize>,
    h: usize,
) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if fast() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked once).
        return unsafe { tile_f16_avx2(sh, q, k, v, rows, h) };
    }
    tile_f16_body::<false>(sh, q, k, v, rows, h)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile_f16_avx2(
    sh: &Shape,
    q: &[f32],
    k: &[f16],
    v: &[f16],
    rows: std::ops::Range<usize>,
    h: usize,
) -> Vec<f32> {
    tile_f16_body::<true>(sh, q, k, v, rows, h)
}

/// The tiled kernel; `SIMD` (only under AVX2 + FMA + F16C) converts with
/// F16C and keeps the value accumulators in registers across a tile's keys.
/// Every value is still one fused multiply-add per key, in key order.
#[inline(always)]
fn tile_f16_body<const SIMD: bool>(
    sh: &Shape,
    q: &[f32],
    k: &[f16],
    v: &[f16],
    rows: std::ops::Range<usize>,
    h: usize,
) -> Vec<f32> {
    let (d, kvh) = (sh.d, h / (sh.nh / sh.nkv));
    let stride = sh.nkv * d;
    let flavor = crate::activation::ExpFlavor::detect();
    let nq = rows.len();
    let mut mx = vec![f32::NEG_INFINITY; nq];
    let mut s = vec![0f32; nq];
    let mut acc = vec![0f32; nq * d];
    // Keys of the tile transposed (`kt[dk * TILE + tk]`), values row-major.
    let mut kt = vec![0f32; d * TILE];
    let mut vt = vec![0f32; TILE * d];
    let mut row16 = vec![0f32; d];
    let mut p = [0f32; TILE];
    let n_keys = sh.offset + rows.end;
    for ic in (0..n_keys).step_by(TILE) {
        let kv_tile = TILE.min(n_keys - ic);
        for tk in 0..kv_tile {
            let base = (ic + tk) * stride + kvh * d;
            widen::<SIMD>(&k[base..base + d], &mut row16);
            for (dk, &x) in row16.iter().enumerate() {
                kt[dk * TILE + tk] = x;
            }
            widen::<SIMD>(&v[base..base + d], &mut vt[tk * d..(tk + 1) * d]);
        }
        for (qi, i) in rows.clone().enumerate() {
            // Keys this row may see: positions up to its own.
            let visible = (sh.offset + i + 1).saturating_sub(ic).min(kv_tile);
            if visible == 0 {
                continue;
            }
            let qrow = &q[(i * sh.nh + h) * d..(i * sh.nh + h + 1) * d];
            let mut sc = [0f32; TILE];
            for (dk, &qv) in qrow.iter().enumerate() {
                let kr = &kt[dk * TILE..dk * TILE + TILE];
                for (a, &kv) in sc.iter_mut().zip(kr) {
                    *a = qv.mul_add(kv, *a);
                }
            }
            for (tk, a) in sc.iter_mut().enumerate() {
                *a = if tk < visible {
                    *a * sh.scale
                } else {
                    f32::NEG_INFINITY
                };
            }
            let tile_max = sc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let m_new = mx[qi].max(tile_max);
            let a_row = &mut acc[qi * d..(qi + 1) * d];
            if m_new > mx[qi] {
                let ms = (mx[qi] - m_new).exp();
                a_row.iter_mut().for_each(|a| *a *= ms);
                s[qi] *= ms;
            }
            mx[qi] = m_new;
            s[qi] = (s[qi] as f64 + softmax_tile(flavor, &sc, m_new, &mut p)) as f32;
            #[cfg(target_arch = "x86_64")]
            if SIMD {
                // SAFETY: SIMD is only set under AVX2 + FMA (`tile_f16_avx2`).
                unsafe { weigh_values_avx2(a_row, &p[..kv_tile], &vt) };
                continue;
            }
            for (tk, &pk) in p.iter().enumerate().take(kv_tile) {
                let vr = &vt[tk * d..(tk + 1) * d];
                for (a, &x) in a_row.iter_mut().zip(vr) {
                    *a = pk.mul_add(x, *a);
                }
            }
        }
    }
    for (qi, a_row) in acc.chunks_exact_mut(d).enumerate() {
        let inv = if s[qi] == 0.0 { 0.0 } else { 1.0 / s[qi] };
        a_row.iter_mut().for_each(|a| *a *= inv);
    }
    acc
}

/// f16 to f32 (exact either way; F16C eight at a time under `SIMD`).
#[inline(always)]
fn widen<const SIMD: bool>(src: &[f16], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if SIMD {
        use std::arch::x86_64::*;
        let whole = src.len() / 8 * 8;
        for (s8, d8) in src[..whole].chunks_exact(8).zip(dst.chunks_exact_mut(8)) {
            // SAFETY: SIMD is only set under F16C; 8 values each side.
            unsafe {
                let h = _mm_loadu_si128(s8.as_ptr() as *const __m128i);
                _mm256_storeu_ps(d8.as_mut_ptr(), _mm256_cvtph_ps(h));
            }
        }
        for (d, s) in dst[whole..src.len()].iter_mut().zip(&src[whole..]) {
            *d = s.to_f32();
        }
        return;
    }
    use half::slice::HalfFloatSliceExt;
    src.convert_to_f32_slice(&mut dst[..src.len()]);
}

/// `acc[j] += p[tk] * vt[tk * d + j]` for every key `tk` in order, 64
/// values of `acc` at a time held in eight registers (kept in memory, each
/// key's update waited on the previous key's store).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn weigh_values_avx2(acc: &mut [f32], p: &[f32], vt: &[f32]) {
    use std::arch::x86_64::*;
    let d = acc.len();
    let mut c0 = 0;
    while c0 + 64 <= d {
        let a = acc.as_mut_ptr().add(c0);
        // A plain loop: closures would not inherit the target features.
        let mut r = [_mm256_setzero_ps(); 8];
        for (j, rj) in r.iter_mut().enumerate() {
            *rj = _mm256_loadu_ps(a.add(8 * j));
        }
        for (tk, &pk) in p.iter().enumerate() {
            let pb = _mm256_set1_ps(pk);
            let v = vt.as_ptr().add(tk * d + c0);
            for (j, rj) in r.iter_mut().enumerate() {
                *rj = _mm256_fmadd_ps(pb, _mm256_loadu_ps(v.add(8 * j)), *rj);
            }
        }
        for (j, rj) in r.iter().enumerate() {
            _mm256_storeu_ps(a.add(8 * j), *rj);
        }
        c0 += 64;
    }
    while c0 + 8 <= d {
        let a = acc.as_mut_ptr().add(c0);
        let mut r = _mm256_loadu_ps(a);
        for (tk, &pk) in p.iter().enumerate() {
            r = _mm256_fmadd_ps(
                _mm256_set1_ps(pk),
                _mm256_loadu_ps(vt.as_ptr().add(tk * d + c0)),
                r,
            );
        }
        _mm256_storeu_ps(a, r);
        c0 += 8;
    }
    for j in c0..d {
        for (tk, &pk) in p.iter().enumerate() {
            acc[j] = pk.mul_add(vt[tk * d + j], acc[j]);
        }
    }
}

/// `ggml_vec_soft_max_f32` over one tile: `p = exp(x - max)` with ggml's
/// vector `exp`, each vector's sum reduced in its lane order and added to an
/// f64. Returns the sum.
#[inline(always)]
fn softmax_tile(
    flavor: crate::activation::ExpFlavor,
    x: &[f32; TILE],
    max: f32,
    p: &mut [f32; TILE],
) -> f64 {
    use crate::activation::{exp_in_place, ExpFlavor};
    let mut sum = 0f64;
    for (o, &v) in p.iter_mut().zip(x) {
        *o = v - max;
    }
    match flavor {
        ExpFlavor::Avx512 => {
            exp_in_place(flavor, p);
            for pc in p.chunks_exact(16) {
                let t3: [f32; 8] = std::array::from_fn(|i| pc[8 + i] + pc[i]);
                let t6: [f32; 4] = std::array::from_fn(|i| t3[4 + i] + t3[i]);
                sum += ((t6[0] + t6[2]) + (t6[1] + t6[3])) as f64;
            }
        }
        ExpFlavor::Avx2 => {
            exp_in_place(flavor, p);
            for pc in p.chunks_exact(8) {
                sum += (((pc[0] + pc[4]) + (pc[2] + pc[6])) + ((pc[1] + pc[5]) + (pc[3] + pc[7])))
                    as f64;
            }
        }
        ExpFlavor::Libm => {
            for o in p.iter_mut() {
                *o = o.exp();
                sum += *o as f64;
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simd_f16_dot_sums_as_the_emulation() {
        for d in [64usize, 96, 128, 80] {
            let q: Vec<f32> = (0..d)
                .map(|i| via_f16(((i * 37 % 23) as f32 - 11.0) * 0.173))
                .collect();
            let k16: Vec<f16> = (0..d)
                .map(|i| f16::from_f32(((i * 53 % 29) as f32 - 14.0) * 0.311))
                .collect();
            let k: Vec<f32> = k16.iter().map(|x| x.to_f32()).collect();
            for lanes in [DotLanes::X16, DotLanes::X8] {
                let want = dot_f16(lanes, &q, &k);
                if let Some(got) = fast_dot_f16(lanes, &q, &k16) {
                    assert_eq!(got.to_bits(), want.to_bits(), "{lanes:?} d {d}");
                }
            }
        }
    }

    #[test]
    fn the_simd_tile_gives_the_plain_tiles_bits() {
        if !fast() {
            eprintln!("no AVX2 + FMA + F16C: the SIMD tile is not tested here");
            return;
        }
        // Head sizes with and without a 64-wide remainder; a chunk that
        // starts past a cached prefix and ends inside a key tile.
        for d in [64usize, 80, 128] {
            let (nh, nkv, offset, l) = (4, 2, 37, 100);
            let (k, v, q) = cache(offset + l, nkv, l * nh, d);
            let sh = Shape {
                l,
                nh,
                nkv,
                d,
                offset,
                scale: 1.0 / (d as f32).sqrt(),
                threads: 1,
            };
            for h in 0..nh {
                for rows in [0..TILE, TILE..l] {
                    let plain = tile_f16_body::<false>(&sh, &q, &k, &v, rows.clone(), h);
                    let simd = tile_f16(&sh, &q, &k, &v, rows.clone(), h);
                    assert!(plain.iter().all(|x| x.is_finite()));
                    assert!(same_bits(&plain, &simd), "d {d} head {h} rows {rows:?}");
                }
            }
        }
    }

    #[test]
    fn q8_0_rows_together_give_each_rows_bits() {
        // Grouped heads; a cached prefix or none; tiles of one to sixteen
        // rows, whole fours and not, over several blocks of keys;
        // every row against the one-row kernel, the SIMD tile against the
        // plain one.
        for (offset, d) in [(37usize, 64usize), (0, 128), (60, 96)] {
            let (nh, nkv, l) = (4, 2, 21);
            let (k16, v16, q) = cache(offset + l, nkv, l * nh, d);
            let blocks = |x: &[f16]| {
                let mut out = Vec::new();
                let f: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
                quantize_q8_0_blocks(&f, &mut out);
                out
            };
            let (k, v) = (blocks(&k16), blocks(&v16));
            let sh = Shape {
                l,
                nh,
                nkv,
                d,
                offset,
                scale: 1.0 / (d as f32).sqrt(),
                threads: 1,
            };
            for h in 0..nh {
                for rows in [0..16, 16..21, 3..4, 5..11] {
                    let together = rows_q8_0(&sh, &q, &k, &v, rows.clone(), h);
                    let plain = rows_q8_0_body::<false>(&sh, &q, &k, &v, rows.clone(), h);
                    assert!(same_bits(&together, &plain), "offset {offset} head {h}");
                    for (r, i) in rows.clone().enumerate() {
                        let mut one = vec![0f32; d];
                        let qi = &q[(i * nh + h) * d..(i * nh + h + 1) * d];
                        row_q8_0(&sh, qi, &k, &v, i, h..h + 1, &mut one);
                        assert!(one.iter().all(|x| x.is_finite()));
                        let got = &together[r * d..(r + 1) * d];
                        assert!(same_bits(&one, got), "offset {offset} head {h} row {i}");
                    }
                }
            }
        }
    }

    /// Keys and values over `s` positions, and `q_heads` query heads (all
    /// heads of all query rows).
    fn cache(s: usize, nkv: usize, q_heads: usize, d: usize) -> (Vec<f16>, Vec<f16>, Vec<f32>) {
        let val = |i: usize, m: usize| ((i * m % 97) as f32 / 48.0 - 1.0) * 1.3;
        let k = (0..s * nkv * d)
            .map(|i| f16::from_f32(val(i, 17)))
            .collect();
        let v = (0..s * nkv * d)
            .map(|i| f16::from_f32(val(i, 23)))
            .collect();
        let q = (0..q_heads * d).map(|i| val(i, 31)).collect();
        (k, v, q)
    }

    /// The same values bit for bit (as many as the shorter has).
    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn heads_together_give_each_heads_bits() {
        // A prefill row (no split): a group of heads against one at a time.
        let (nh, nkv, d, offset) = (6, 2, 64, 40);
        let (k, v, q) = cache(offset + 3, nkv, nh, d);
        let sh = Shape {
            l: 3,
            nh,
            nkv,
            d,
            offset,
            scale: 0.125,
            threads: 2,
        };
        let mut together = vec![0f32; nh * d];
        row_f16(&sh, &q, &k, &v, 1, 0..nh, &mut together);
        for h in 0..nh {
            let mut one = vec![0f32; d];
            row_f16(&sh, &q[h * d..(h + 1) * d], &k, &v, 1, h..h + 1, &mut one);
            assert!(same_bits(&one, &together[h * d..]), "head {h}");
        }
    }

    #[test]
    fn split_decode_parts_merge_to_the_sequential_result() {
        // 700 visible keys: padded to 768 cells, split three ways, the last
        // part partly masked.
        let (nh, nkv, d, offset) = (4, 2, 64, 699);
        let (k, v, q) = cache(offset + 1, nkv, nh, d);
        let sh = Shape {
            l: 1,
            nh,
            nkv,
            d,
            offset,
            scale: 0.125,
            threads: 3,
        };
        assert!(splits_kv(&sh));
        let mut sequential = vec![0f32; nh * d];
        row_f16(&sh, &q, &k, &v, 0, 0..nh, &mut sequential);
        let parts: Vec<_> = (0..split_kv_parts(&sh))
            .map(|t| split_kv_part(&sh, &q, &k, &v, t))
            .collect();
        let mut merged = vec![0f32; nh * d];
        merge_split_kv(&sh, &parts, &mut merged);
        assert!(merged.iter().all(|x| x.is_finite()));
        assert!(same_bits(&merged, &sequential));
    }
}
