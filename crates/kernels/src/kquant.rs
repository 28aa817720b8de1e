//! K-quant weights (Q4_K, Q5_K, Q6_K: 256-value super-blocks with 6- or
//! 8-bit sub-block scales) against Q8_K activations, quantized and summed
//! as llama.cpp's x86 CPU backend does, so that a K-quant file runs from its
//! own blocks (no Q8_0 copy at 1.9x the memory) with llama.cpp's numerics:
//! - activations: `quantize_row_q8_K_ref` (`d = max / -127` of the signed
//!   largest value, round half to even, sums of 16 kept as `bsums`);
//! - Q4_K: the repacked kernels (`ggml_gemm/gemv_q4_K_8x8_q8_K`, which
//!   llama.cpp uses whenever the matrix has a multiple of 8 rows). A
//!   batch's first `m - m % 4` rows go through the gemm: per pair of
//!   32-value sub-blocks one exact integer `sum(scale * q * a)` and one
//!   `sum(min * bsum)`, each added with one fused multiply-add, and the
//!   activations quantized by `ggml_quantize_mat_q8_K_4x8` (a tie between
//!   `+max` and `-max` takes the positive one's sign). The last `m % 4`
//!   rows (every decode step) go through the gemv: the same per
//!   super-block. The two totals are subtracted at the end;
//! - Q5_K and Q6_K, batches under 8 rows: the AVX2 `ggml_vec_dot_q5_K_q8_K`
//!   / `_q6_K_q8_K`: eight int32 lanes per super-block, each lane fused
//!   into its own f32 lane, the lanes summed pairwise at the end
//!   (`hsum_float_8`);
//! - Q5_K and Q6_K, batches of 8 rows or more: llama.cpp's tiled K-quant
//!   matmul (`ggml-cpu/tiled`): per super-block one exact integer, scaled
//!   by the weight's `d` (less `dmin * sum(min * bsum)`, fused), then
//!   fused into the sum with the activation's `d` (written as a multiply
//!   and an add in its AVX-512 kernel, which GCC contracts: measured
//!   against the library itself).
//!
//! On CPUs with AVX-512 VNNI, a Q4_K matrix with a multiple of 16 rows is
//! re-laid at load and run by `q4k_packed` instead (the same sums, about
//! four times faster at prefill); this module's paths run the rest.
//!
//! Integer sums are exact in any order, so the vector paths here only need
//! the same lane assignment and the same float operations to give the same
//! bits; `dot_generic` is the plain mirror every path is tested against.
use std::ops::Range;

use half::f16;

use crate::quant::{has_avx2, hsum8};

/// Values per super-block.
pub const QK_K: usize = 256;

/// One Q8_K activation super-block (`block_q8_K`), plus the sums of each
/// 32-value sub-block (`q8s`, what the kernels derive from `bsums`) so
/// every weight row does not add them again.
#[derive(Clone, Copy)]
pub struct Q8K {
    pub d: f32,
    pub qs: [i8; QK_K],
    pub bsums: [i16; 16],
    pub q8s: [i16; 8],
}

impl Q8K {
    /// An all-zero block (buffers to quantize into).
    pub const ZERO: Q8K = Q8K {
        d: 0.0,
        qs: [0; QK_K],
        bsums: [0; 16],
        q8s: [0; 8],
    };
}

/// The K-quant weight formats these kernels run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KKind {
    Q4K,
    Q5K,
    Q6K,
}

impl KKind {
    /// Bytes of one 256-weight super-block.
    pub fn block_bytes(self) -> usize {
        match self {
            KKind::Q4K => 144,
            KKind::Q5K => 176,
            KKind::Q6K => 210,
        }
    }
}

/// ggml's `quantize_row_q8_K_ref` for one super-block (what x86 runs).
pub fn quantize_q8k(x: &[f32]) -> Q8K {
    let mut out = Q8K::ZERO;
    let (mut max, mut amax) = (0f32, 0f32);
    for &v in x {
        // The first value of the largest magnitude gives the sign.
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax == 0.0 {
        return out;
    }
    let iscale = -127.0 / max;
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 checked; x is one super-block.
        unsafe { round_q8k_avx2(x, iscale, &mut out.qs) };
    } else {
        round_q8k(x, iscale, &mut out.qs);
    }
    #[cfg(not(target_arch = "x86_64"))]
    round_q8k(x, iscale, &mut out.qs);
    for (j, s) in out.bsums.iter_mut().enumerate() {
        *s = out.qs[16 * j..16 * j + 16].iter().map(|&q| q as i16).sum();
    }
    for (j, s) in out.q8s.iter_mut().enumerate() {
        *s = out.bsums[2 * j] + out.bsums[2 * j + 1];
    }
    out.d = 1.0 / iscale;
    out
}

/// `round(iscale * v)`, half to even, at most 127: ggml's rounding of
/// Q8_K quants (the plain mirror of `round_q8k_avx2`).
fn round_q8k(x: &[f32], iscale: f32, qs: &mut [i8; QK_K]) {
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = ((iscale * v).round_ties_even() as i32).min(127) as i8;
    }
}

/// `round_q8k` eight values at a time: the conversion rounds half to even
/// (the default rounding mode), as `round_ties_even`, which without
/// SSE4.1 at compile time is a call to `rintf` per value.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn round_q8k_avx2(x: &[f32], iscale: f32, qs: &mut [i8; QK_K]) {
    use std::arch::x86_64::*;
    assert!(x.len() >= QK_K);
    let s = _mm256_set1_ps(iscale);
    let top = _mm256_set1_epi32(127);
    for i in (0..QK_K).step_by(32) {
        let q: [__m256i; 4] = std::array::from_fn(|j| {
            let v = _mm256_loadu_ps(x.as_ptr().add(i + 8 * j));
            _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(s, v)), top)
        });
        // Packing interleaves 128-bit halves; the permute restores order.
        let w = _mm256_packs_epi16(
            _mm256_packs_epi32(q[0], q[1]),
            _mm256_packs_epi32(q[2], q[3]),
        );
        let w = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(qs.as_mut_ptr().add(i) as *mut __m256i, w);
    }
}

/// `ggml_quantize_mat_q8_K_4x8` for one super-block: as `quantize_q8k`,
/// except that the scale's sign is negative whenever `+max` occurs.
pub fn quantize_q8k_tiled(x: &[f32]) -> Q8K {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    match x.iter().position(|&v| v == amax) {
        // The first largest magnitude decides in `quantize_q8k`: put the
        // positive one first in a copy.
        Some(i) if amax != 0.0 && x[..i].iter().any(|&v| v == -amax) => {
            let mut y = [0f32; QK_K];
            y.copy_from_slice(x);
            let mut q = quantize_q8k(&y.map(|v| -v));
            // The scale is the one wanted (-127 / +max); the quants of the
            // negated inputs are negated.
            for v in q.qs.iter_mut() {
                *v = -*v;
            }
            for v in q.bsums.iter_mut() {
                *v = -*v;
            }
            for v in q.q8s.iter_mut() {
                *v = -*v;
            }
            q
        }
        _ => quantize_q8k(x),
    }
}

/// Row `row` of an `m`-row batch, `x` (a whole number of super-blocks),
/// quantized for `kind` into `out` as llama.cpp quantizes that row.
pub fn quantize_q8k_row(kind: KKind, row: usize, m: usize, x: &[f32], out: &mut [Q8K]) {
    let tiled = sums_for(kind, row, m) == Sums::Gemm;
    for (b, o) in x.chunks_exact(QK_K).zip(out) {
        *o = if tiled {
            quantize_q8k_tiled(b)
        } else {
            quantize_q8k(b)
        };
    }
}

/// The rows of an `m`-row batch that llama.cpp's repacked Q4_K kernel
/// runs through its gemm (the rest through its gemv).
pub fn gemm_rows(m: usize) -> usize {
    m - m % 4
}

/// Batches from this many rows take llama.cpp's tiled matmul (Q5_K, Q6_K).
pub const TILED_MIN_ROWS: usize = 8;

/// Which of llama.cpp's kernels a dot product reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sums {
    /// The one-row kernel: Q4_K's repacked gemv, Q5_K/Q6_K's `vec_dot`.
    Row,
    /// Q4_K's repacked gemm (a fused multiply-add per sub-block pair).
    Gemm,
    /// The tiled matmul (Q5_K/Q6_K).
    Tiled,
}

/// How llama.cpp sums row `row` of an `m`-row batch against `kind`
/// weights. (A Q4_K matrix whose row count is not a multiple of 8 is not
/// repacked by llama.cpp; it is summed here as if it were.)
pub fn sums_for(kind: KKind, row: usize, m: usize) -> Sums {
    match kind {
        KKind::Q4K if row < gemm_rows(m) => Sums::Gemm,
        KKind::Q4K => Sums::Row,
        _ if m >= TILED_MIN_ROWS => Sums::Tiled,
        _ => Sums::Row,
    }
}

/// The eight 6-bit scales and mins packed in 12 bytes (`get_scale_min_k4`).
pub(crate) fn scales_mins(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let (mut sc, mut mn) = ([0u8; 8], [0u8; 8]);
    for j in 0..8 {
        if j < 4 {
            sc[j] = s[j] & 63;
            mn[j] = s[j + 4] & 63;
        } else {
            sc[j] = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
            mn[j] = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
        }
    }
    (sc, mn)
}

pub(crate) fn half(b: &[u8]) -> f32 {
    f16::from_le_bytes([b[0], b[1]]).to_f32()
}

/// A super-block's 256 quants as unsigned values (Q6_K's and Q5_K's high
/// bits joined; Q6_K's offset of 32 is applied by the kernels through the
/// activation sums, as ggml does).
fn values(kind: KKind, blk: &[u8]) -> [u8; QK_K] {
    let mut v = [0u8; QK_K];
    match kind {
        KKind::Q4K | KKind::Q5K => {
            let (qh, qs) = match kind {
                KKind::Q4K => (None, &blk[16..144]),
                _ => (Some(&blk[16..48]), &blk[48..176]),
            };
            for j in 0..4 {
                for l in 0..32 {
                    let q = qs[32 * j + l];
                    let (h0, h1) = match qh {
                        Some(h) => ((h[l] >> (2 * j)) & 1, (h[l] >> (2 * j + 1)) & 1),
                        None => (0, 0),
                    };
                    v[64 * j + l] = (q & 0x0f) | (h0 << 4);
                    v[64 * j + 32 + l] = (q >> 4) | (h1 << 4);
                }
            }
        }
        KKind::Q6K => {
            let (ql, qh) = (&blk[..128], &blk[128..192]);
            for j in 0..2 {
                for l in 0..32 {
                    let (a, b, h) = (ql[64 * j + l], ql[64 * j + 32 + l], qh[32 * j + l]);
                    let e = 128 * j + l;
                    v[e] = (a & 0x0f) | ((h & 3) << 4);
                    v[e + 32] = (b & 0x0f) | (((h >> 2) & 3) << 4);
                    v[e + 64] = (a >> 4) | (((h >> 4) & 3) << 4);
                    v[e + 96] = (b >> 4) | (((h >> 6) & 3) << 4);
                }
            }
        }
    }
    v
}

/// A super-block's exact integers: `sum(scale * q * a)` (Q6_K's offset of
/// 32 taken off) and `sum(min * bsum)` (zero for Q6_K).
fn block_sums(kind: KKind, blk: &[u8], y: &Q8K) -> (i32, i32) {
    let v = values(kind, blk);
    let dot = |from: usize, len: usize| -> i32 {
        (from..from + len)
            .map(|e| v[e] as i32 * y.qs[e] as i32)
            .sum()
    };
    match kind {
        KKind::Q6K => {
            let sc = |i: usize| blk[192 + i] as i8 as i32;
            let s1 = (0..16)
                .map(|s| sc(s) * (dot(16 * s, 16) - 32 * y.bsums[s] as i32))
                .sum();
            (s1, 0)
        }
        _ => {
            let (sc, mn) = scales_mins(&blk[4..16]);
            let s1 = (0..8).map(|s| sc[s] as i32 * dot(32 * s, 32)).sum();
            let s2 = (0..8).map(|s| mn[s] as i32 * y.q8s[s] as i32).sum();
            (s1, s2)
        }
    }
}

/// The dot product of four consecutive quants with their activations.
fn dot4(v: &[u8], a: &[i8]) -> i32 {
    (0..4).map(|i| v[i] as i32 * a[i] as i32).sum()
}

/// One weight row against one activation row, in plain Rust, with the
/// x86 kernels' lanes and float operations (see the module comment): the
/// reference every vector path must equal bit for bit, and the path on
/// CPUs without AVX2, summed as llama.cpp's kernel `sums` does.
pub fn dot_generic(kind: KKind, w: &[u8], a: &[Q8K], sums: Sums) -> f32 {
    let bb = kind.block_bytes();
    if sums == Sums::Tiled {
        let mut buf = 0f32;
        for (blk, y) in w.chunks_exact(bb).zip(a) {
            let (s1, s2) = block_sums(kind, blk, y);
            let r = match kind {
                KKind::Q6K => s1 as f32 * half(&blk[208..210]),
                _ => (-half(&blk[2..4])).mul_add(s2 as f32, s1 as f32 * half(&blk[0..2])),
            };
            buf = r.mul_add(y.d, buf);
        }
        return buf;
    }
    let tiled = sums == Sums::Gemm;
    match kind {
        KKind::Q4K => {
            let (mut acc, mut accm) = (0f32, 0f32);
            for (blk, y) in w.chunks_exact(bb).zip(a) {
                let (sc, mn) = scales_mins(&blk[4..16]);
                let v = values(kind, blk);
                let (dd, ddm) = (half(&blk[0..2]) * y.d, half(&blk[2..4]) * y.d);
                let sub = |s: usize| {
                    let t: i32 = (0..8)
                        .map(|l| dot4(&v[32 * s + 4 * l..], &y.qs[32 * s + 4 * l..]))
                        .sum();
                    (sc[s] as i32 * t, mn[s] as i32 * y.q8s[s] as i32)
                };
                // Sub-blocks summed in pairs (gemm) or all eight (gemv).
                let group = if tiled { 2 } else { 8 };
                for g in (0..8).step_by(group) {
                    let (isum, imin) = (g..g + group)
                        .map(sub)
                        .fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
                    acc = (isum as f32).mul_add(dd, acc);
                    accm = (imin as f32).mul_add(ddm, accm);
                }
            }
            acc - accm
        }
        KKind::Q5K => {
            let (mut acc, mut summs) = ([0f32; 8], 0f32);
            for (blk, y) in w.chunks_exact(bb).zip(a) {
                let d = y.d * half(&blk[0..2]);
                let dmin = -y.d * half(&blk[2..4]);
                let (sc, mn) = scales_mins(&blk[4..16]);
                let v = values(kind, blk);
                let imin: i32 = (0..8).map(|s| mn[s] as i32 * y.q8s[s] as i32).sum();
                summs = dmin.mul_add(imin as f32, summs);
                for (l, lane) in acc.iter_mut().enumerate() {
                    let i: i32 = (0..8)
                        .map(|s| sc[s] as i32 * dot4(&v[32 * s + 4 * l..], &y.qs[32 * s + 4 * l..]))
                        .sum();
                    *lane = d.mul_add(i as f32, *lane);
                }
            }
            hsum8(&acc) + summs
        }
        KKind::Q6K => {
            let mut acc = [0f32; 8];
            for (blk, y) in w.chunks_exact(bb).zip(a) {
                let d = y.d * half(&blk[208..210]);
                let sc = |i: usize| blk[192 + i] as i8 as i32;
                let v = values(kind, blk);
                for (l, lane) in acc.iter_mut().enumerate() {
                    let mut i = 0i32;
                    // Eight 32-value chunks; a lane's four values sit in the
                    // chunk's first or second half (its scale).
                    for c in 0..8 {
                        let e = 32 * c + 4 * l;
                        i += sc(2 * c + l / 4) * dot4(&v[e..], &y.qs[e..]);
                    }
                    let offset = y.bsums[2 * l] as i32 * sc(2 * l)
                        + y.bsums[2 * l + 1] as i32 * sc(2 * l + 1);
                    *lane = d.mul_add((i - 32 * offset) as f32, *lane);
                }
            }
            hsum8(&acc)
        }
    }
}

/// `out[row * n + col] = dot(weight row col, activation row row)` for every
/// `col` in `cols` and every one of the `m` activation rows (`k / 256`
/// super-blocks each), as `quant::matmul_columns` does for 32-value blocks.
///
/// # Safety
/// `out` must point to `m * n` writable `f32`s, and no one else may write
/// the columns in `cols` while this runs.
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul_columns(
    kind: KKind,
    data: &[u8],
    n: usize,
    k: usize,
    acts: &[Q8K],
    m: usize,
    cols: Range<usize>,
    out: *mut f32,
) {
    let path = if crate::quant::has_vnni() {
        Path::Vnni
    } else if has_avx2() {
        Path::Avx2
    } else {
        Path::Plain
    };
    // SAFETY: the path is one this CPU runs; the rest is the contract.
    unsafe { matmul_columns_on(path, kind, data, n, k, acts, m, cols, out) }
}

/// Which loop runs the dots: all give the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Plain,
    Avx2,
    /// AVX2 tiles with AVX-512 VNNI's `vpdpwssd` for the scaled sums.
    Vnni,
}

#[allow(clippy::too_many_arguments)]
unsafe fn matmul_columns_on(
    path: Path,
    kind: KKind,
    data: &[u8],
    n: usize,
    k: usize,
    acts: &[Q8K],
    m: usize,
    cols: Range<usize>,
    out: *mut f32,
) {
    let nb = k / QK_K;
    let row_bytes = nb * kind.block_bytes();
    let cols = cols.start..cols.end.min(n);
    #[cfg(target_arch = "x86_64")]
    if path != Path::Plain {
        // SAFETY: the caller checked the CPU; the rest is the contract.
        return unsafe { tiles_avx2(path == Path::Vnni, kind, data, n, nb, acts, m, cols, out) };
    }
    for col in cols {
        let w = &data[col * row_bytes..(col + 1) * row_bytes];
        for row in 0..m {
            let a = &acts[row * nb..(row + 1) * nb];
            let sums = sums_for(kind, row, m);
            // SAFETY: in bounds (row < m, col < n) and ours alone.
            unsafe { *out.add(row * n + col) = dot_generic(kind, w, a, sums) };
        }
    }
}

/// Activation rows per tile: they stay in L2 while the weight columns pass.
#[cfg(target_arch = "x86_64")]
const ROW_TILE: usize = 32;

/// Tiles of activation rows; inside a tile, `C` weight columns against `R`
/// activation rows at once (each weight super-block unpacked once for
/// `R * C` dots), `R = 4` while four rows remain, then one row against
/// eight columns (decode). Tiles start at multiples of four, so the
/// four-row groups are exactly llama.cpp's gemm rows (`gemm_rows`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::too_many_arguments)]
unsafe fn tiles_avx2(
    vnni: bool,
    kind: KKind,
    data: &[u8],
    n: usize,
    nb: usize,
    acts: &[Q8K],
    m: usize,
    cols: Range<usize>,
    out: *mut f32,
) {
    let row_bytes = nb * kind.block_bytes();
    let col_of = |c: usize| &data[c * row_bytes..(c + 1) * row_bytes];
    let row_of = |r: usize| &acts[r * nb..(r + 1) * nb];
    for r0 in (0..m).step_by(ROW_TILE) {
        let r1 = (r0 + ROW_TILE).min(m);
        let mut row = r0;
        while row < r1 {
            let rows = if r1 - row >= 4 { 4 } else { 1 };
            let ncols = 8 / rows;
            let mut col = cols.start;
            while col < cols.end {
                let take = (cols.end - col).min(ncols);
                // Missing columns of a partial batch repeat the last one (not stored).
                let put = |r: usize, c: usize, v: f32| {
                    if c < take {
                        // SAFETY: row + r < m and col + c < n, a column of ours.
                        unsafe { *out.add((row + r) * n + col + c) = v };
                    }
                };
                // Every row of a group shares its kernel (`sums_for`).
                let sums = sums_for(kind, row, m);
                if rows == 4 {
                    let w: [&[u8]; 2] = std::array::from_fn(|c| col_of(col + c.min(take - 1)));
                    let a: [&[Q8K]; 4] = std::array::from_fn(|r| row_of(row + r));
                    let s = micro_any::<4, 2>(vnni, kind, sums, w, a, nb);
                    for (r, rs) in s.iter().enumerate() {
                        for (c, &v) in rs.iter().enumerate() {
                            put(r, c, v);
                        }
                    }
                } else {
                    let w: [&[u8]; 8] = std::array::from_fn(|c| col_of(col + c.min(take - 1)));
                    let [s] = micro_any::<1, 8>(vnni, kind, sums, w, [row_of(row)], nb);
                    for (c, &v) in s.iter().enumerate() {
                        put(0, c, v);
                    }
                }
                col += take;
            }
            row += rows;
        }
    }
}

/// The micro-kernel for `kind` summed as `sums`, with VNNI's scaled sums
/// where `vnni` (the CPU must have them).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn micro_any<const R: usize, const C: usize>(
    vnni: bool,
    kind: KKind,
    sums: Sums,
    w: [&[u8]; C],
    a: [&[Q8K]; R],
    nb: usize,
) -> [[f32; C]; R] {
    if vnni {
        // SAFETY: only the VNNI path passes `vnni`.
        unsafe { micro_vnni(kind, sums, w, a, nb) }
    } else {
        micro_plain(kind, sums, w, a, nb)
    }
}

/// `micro_any` on AVX2 (the kernel bodies inline here with these features).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn micro_plain<const R: usize, const C: usize>(
    kind: KKind,
    sums: Sums,
    w: [&[u8]; C],
    a: [&[Q8K]; R],
    nb: usize,
) -> [[f32; C]; R] {
    micro_kind::<false, R, C>(kind, sums, w, a, nb)
}

/// `micro_any` with AVX-512 VNNI.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn micro_vnni<const R: usize, const C: usize>(
    kind: KKind,
    sums: Sums,
    w: [&[u8]; C],
    a: [&[Q8K]; R],
    nb: usize,
) -> [[f32; C]; R] {
    micro_kind::<true, R, C>(kind, sums, w, a, nb)
}

/// The kernel body for `kind` and `sums`, `V`: with VNNI's scaled sums.
/// Inlined into its caller, so it runs with that caller's target features.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn micro_kind<const V: bool, const R: usize, const C: usize>(
    kind: KKind,
    sums: Sums,
    w: [&[u8]; C],
    a: [&[Q8K]; R],
    nb: usize,
) -> [[f32; C]; R] {
    match (kind, sums) {
        (KKind::Q4K, Sums::Gemm) => micro_q4k::<V, true, R, C>(w, a, nb),
        (KKind::Q4K, _) => micro_q4k::<V, false, R, C>(w, a, nb),
        (KKind::Q5K, Sums::Tiled) => micro_lanes::<V, true, true, R, C>(w, a, nb),
        (KKind::Q5K, _) => micro_lanes::<V, true, false, R, C>(w, a, nb),
        (KKind::Q6K, Sums::Tiled) => micro_lanes::<V, false, true, R, C>(w, a, nb),
        (KKind::Q6K, _) => micro_lanes::<V, false, false, R, C>(w, a, nb),
    }
}

/// `acc + madd(p, s)` (pairs of int16 products summed into int32 lanes):
/// one `vpdpwssd` with VNNI (`V`), `vpmaddwd` and an add without. The same
/// integers either way.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn mad16<const V: bool>(
    acc: std::arch::x86_64::__m256i,
    p: std::arch::x86_64::__m256i,
    s: std::arch::x86_64::__m256i,
) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    if V {
        _mm256_dpwssd_epi32(acc, p, s)
    } else {
        _mm256_add_epi32(acc, _mm256_madd_epi16(p, s))
    }
}

/// The sum of an int32 vector's lanes (exact).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn hsum_i32(v: std::arch::x86_64::__m256i) -> i32 {
    use std::arch::x86_64::*;
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32::<1>(s)))
}

/// Eight int32 vectors reduced to one: lane `i` is the sum of vector `i`'s
/// lanes (an exact integer sum, so any order gives the same value).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn reduce8(v: &[std::arch::x86_64::__m256i; 8]) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    let h01 = _mm256_hadd_epi32(v[0], v[1]);
    let h23 = _mm256_hadd_epi32(v[2], v[3]);
    let h45 = _mm256_hadd_epi32(v[4], v[5]);
    let h67 = _mm256_hadd_epi32(v[6], v[7]);
    let q0 = _mm256_hadd_epi32(h01, h23);
    let q1 = _mm256_hadd_epi32(h45, h67);
    _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(q0, q1),
        _mm256_permute2x128_si256::<0x31>(q0, q1),
    )
}

/// The 12 packed scale bytes as ggml's kernels unpack them: the eight
/// scales in bytes 0..8, the eight mins in bytes 8..16.
#[inline(always)]
fn unpack_scales(s: &[u8]) -> [u32; 4] {
    const KMASK1: u32 = 0x3f3f_3f3f;
    const KMASK2: u32 = 0x0f0f_0f0f;
    const KMASK3: u32 = 0x0303_0303;
    let u = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (u0, u1, u2) = (u(0), u(1), u(2));
    [
        u0 & KMASK1,
        (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4),
        u1 & KMASK1,
        ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4),
    ]
}

/// Q4_K: `C` weight rows against `R` activation rows (`R * C = 8`, one
/// vector lane per pair), as llama.cpp's repacked gemm (`TILED`: a fused
/// multiply-add per pair of sub-blocks) or gemv (per super-block) sums them.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::needless_range_loop)] // block b of every row: indices read clearer
unsafe fn micro_q4k<const V: bool, const TILED: bool, const R: usize, const C: usize>(
    w: [&[u8]; C],
    a: [&[Q8K]; R],
    nb: usize,
) -> [[f32; C]; R] {
    use std::arch::x86_64::*;
    debug_assert_eq!(R * C, 8);
    let m4 = _mm256_set1_epi8(0x0f);
    let mut acc = _mm256_setzero_ps();
    let mut accm = _mm256_setzero_ps();
    for b in 0..nb {
        let mut sc = [[0u32; 4]; C];
        let mut dd = [0f32; 8];
        let mut ddm = [0f32; 8];
        let mut pm = [_mm_setzero_si128(); 8];
        for c in 0..C {
            let blk = w[c].get_unchecked(b * 144..(b + 1) * 144);
            sc[c] = unpack_scales(&blk[4..16]);
            let mins = _mm_cvtepu8_epi16(_mm_loadl_epi64(sc[c].as_ptr().add(2) as *const __m128i));
            let (d, dmin) = (half(&blk[0..2]), half(&blk[2..4]));
            for r in 0..R {
                let y = a[r].get_unchecked(b);
                dd[c * R + r] = d * y.d;
                ddm[c * R + r] = dmin * y.d;
                // min * (sum of a sub-block's activations), four lanes.
                pm[c * R + r] =
                    _mm_madd_epi16(mins, _mm_loadu_si128(y.q8s.as_ptr() as *const __m128i));
            }
        }
        let dd = _mm256_loadu_ps(dd.as_ptr());
        let ddm = _mm256_loadu_ps(ddm.as_ptr());
        // Lane j of pm[p] is pair p's mins term of sub-blocks 2j and 2j+1.
        let per_pair = transpose8x4(&pm);
        // Column by column, each row's sum kept in a register across the
        // sub-block pairs (the gemv's per-block total), or stored per pair
        // (the gemm's): reduced over lanes for all eight dots at once below.
        let zero = _mm256_setzero_si256();
        let mut per_j = [[zero; 8]; 4];
        let mut isum = [zero; 8];
        for c in 0..C {
            let sb = sc[c].as_ptr() as *const u8;
            let base = w[c].as_ptr().add(b * 144 + 16);
            let mut t = [zero; R];
            for j in 0..4 {
                let q = _mm256_loadu_si256(base.add(32 * j) as *const __m256i);
                let lo = _mm256_and_si256(q, m4);
                let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
                let s_lo = _mm256_set1_epi16(*sb.add(2 * j) as i16);
                let s_hi = _mm256_set1_epi16(*sb.add(2 * j + 1) as i16);
                for r in 0..R {
                    let y = a[r].get_unchecked(b).qs.as_ptr().add(64 * j);
                    let alo = _mm256_loadu_si256(y as *const __m256i);
                    let ahi = _mm256_loadu_si256(y.add(32) as *const __m256i);
                    let start = if TILED { zero } else { t[r] };
                    let v = mad16::<V>(start, _mm256_maddubs_epi16(lo, alo), s_lo);
                    t[r] = mad16::<V>(v, _mm256_maddubs_epi16(hi, ahi), s_hi);
                }
                if TILED {
                    per_j[j][c * R..(c + 1) * R].copy_from_slice(&t);
                }
            }
            if !TILED {
                isum[c * R..(c + 1) * R].copy_from_slice(&t);
            }
        }
        if TILED {
            for j in 0..4 {
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8(&per_j[j])), dd, acc);
                accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(per_pair[j]), ddm, accm);
            }
        } else {
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8(&isum)), dd, acc);
            accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8x4(&pm)), ddm, accm);
        }
    }
    let mut l = [0f32; 8];
    _mm256_storeu_ps(l.as_mut_ptr(), _mm256_sub_ps(acc, accm));
    std::array::from_fn(|r| std::array::from_fn(|c| l[c * R + r]))
}

/// Eight four-lane int32 vectors as four eight-lane ones: lane `i` of
/// output `j` is lane `j` of input `i`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn transpose8x4(v: &[std::arch::x86_64::__m128i; 8]) -> [std::arch::x86_64::__m256i; 4] {
    use std::arch::x86_64::*;
    // Rows 0-3 in the low halves, 4-7 in the high halves.
    let r: [__m256i; 4] = std::array::from_fn(|i| _mm256_set_m128i(v[i + 4], v[i]));
    let t0 = _mm256_unpacklo_epi32(r[0], r[1]); // a0 b0 a1 b1
    let t1 = _mm256_unpackhi_epi32(r[0], r[1]); // a2 b2 a3 b3
    let t2 = _mm256_unpacklo_epi32(r[2], r[3]); // c0 d0 c1 d1
    let t3 = _mm256_unpackhi_epi32(r[2], r[3]); // c2 d2 c3 d3
                                                // Each output: lane j of rows 0-3 (low half), of rows 4-7 (high half).
    [
        _mm256_unpacklo_epi64(t0, t2),
        _mm256_unpackhi_epi64(t0, t2),
        _mm256_unpacklo_epi64(t1, t3),
        _mm256_unpackhi_epi64(t1, t3),
    ]
}

/// Eight four-lane int32 vectors reduced to one eight-lane vector: lane `i`
/// is the sum of vector `i` (exact).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn reduce8x4(v: &[std::arch::x86_64::__m128i; 8]) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    let q0 = _mm_hadd_epi32(_mm_hadd_epi32(v[0], v[1]), _mm_hadd_epi32(v[2], v[3]));
    let q1 = _mm_hadd_epi32(_mm_hadd_epi32(v[4], v[5]), _mm_hadd_epi32(v[6], v[7]));
    _mm256_set_m128i(q1, q0)
}

/// Q5_K (`Q5`) or Q6_K: eight int32 lanes per super-block and pair, each
/// fused into its own f32 lane as ggml's AVX2 `vec_dot` does, or summed
/// per super-block as its tiled matmul does (`TILED`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::needless_range_loop)] // block b of every row: indices read clearer
unsafe fn micro_lanes<
    const V: bool,
    const Q5: bool,
    const TILED: bool,
    const R: usize,
    const C: usize,
>(
    w: [&[u8]; C],
    a: [&[Q8K]; R],
    nb: usize,
) -> [[f32; C]; R] {
    use std::arch::x86_64::*;
    let bb = if Q5 { 176 } else { 210 };
    let m4 = _mm256_set1_epi8(0x0f);
    let mut acc = [[_mm256_setzero_ps(); R]; C];
    let mut summs = [[0f32; R]; C];
    let mut buf = [[0f32; C]; R];
    for b in 0..nb {
        let mut lanes = [[_mm256_setzero_si256(); R]; C];
        let mut imins = [[0i32; R]; C];
        for c in 0..C {
            let blk = w[c].get_unchecked(b * bb..(b + 1) * bb);
            let p = blk.as_ptr();
            if Q5 {
                let (sc, mn) = scales_mins(&blk[4..16]);
                let hbits = _mm256_loadu_si256(p.add(16) as *const __m256i);
                for j in 0..4 {
                    let q = _mm256_loadu_si256(p.add(48 + 32 * j) as *const __m256i);
                    let one = _mm256_set1_epi8(1);
                    let h0 = _mm256_and_si256(
                        _mm256_srl_epi16(hbits, _mm_cvtsi32_si128(2 * j as i32)),
                        one,
                    );
                    let h1 = _mm256_and_si256(
                        _mm256_srl_epi16(hbits, _mm_cvtsi32_si128(2 * j as i32 + 1)),
                        one,
                    );
                    let q0 = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_slli_epi16::<4>(h0));
                    let q1 = _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4),
                        _mm256_slli_epi16::<4>(h1),
                    );
                    let s0 = _mm256_set1_epi16(sc[2 * j] as i16);
                    let s1 = _mm256_set1_epi16(sc[2 * j + 1] as i16);
                    for r in 0..R {
                        let y = a[r].get_unchecked(b).qs.as_ptr().add(64 * j);
                        let a0 = _mm256_loadu_si256(y as *const __m256i);
                        let a1 = _mm256_loadu_si256(y.add(32) as *const __m256i);
                        let acc = mad16::<V>(lanes[c][r], _mm256_maddubs_epi16(q0, a0), s0);
                        lanes[c][r] = mad16::<V>(acc, _mm256_maddubs_epi16(q1, a1), s1);
                    }
                }
                let dmin = half(&blk[2..4]);
                for r in 0..R {
                    let y = a[r].get_unchecked(b);
                    let imin: i32 = (0..8).map(|s| mn[s] as i32 * y.q8s[s] as i32).sum();
                    if !TILED {
                        summs[c][r] = (-y.d * dmin).mul_add(imin as f32, summs[c][r]);
                    }
                    imins[c][r] = imin;
                }
            } else {
                let scales = _mm_loadu_si128(p.add(192) as *const __m128i);
                for j in 0..2 {
                    let b1 = _mm256_loadu_si256(p.add(64 * j) as *const __m256i);
                    let b2 = _mm256_loadu_si256(p.add(64 * j + 32) as *const __m256i);
                    let h = _mm256_loadu_si256(p.add(128 + 32 * j) as *const __m256i);
                    let m3 = _mm256_set1_epi8(3);
                    let q6 = [
                        _mm256_or_si256(
                            _mm256_and_si256(b1, m4),
                            _mm256_slli_epi16::<4>(_mm256_and_si256(h, m3)),
                        ),
                        _mm256_or_si256(
                            _mm256_and_si256(b2, m4),
                            _mm256_slli_epi16::<2>(_mm256_and_si256(h, _mm256_set1_epi8(12))),
                        ),
                        _mm256_or_si256(
                            _mm256_and_si256(_mm256_srli_epi16::<4>(b1), m4),
                            _mm256_and_si256(h, _mm256_set1_epi8(48)),
                        ),
                        _mm256_or_si256(
                            _mm256_and_si256(_mm256_srli_epi16::<4>(b2), m4),
                            _mm256_srli_epi16::<2>(_mm256_and_si256(h, _mm256_set1_epi8(-64))),
                        ),
                    ];
                    for (t, &qv) in q6.iter().enumerate() {
                        let is = 4 * j + t;
                        // Scale 2is for the chunk's first 16 values, 2is+1 for the rest.
                        let pick = _mm_set_epi64x(
                            0x0101_0101_0101_0101 * (2 * is as i64 + 1),
                            0x0101_0101_0101_0101 * (2 * is as i64),
                        );
                        let s = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, pick));
                        for r in 0..R {
                            let y = a[r].get_unchecked(b).qs.as_ptr().add(128 * j + 32 * t);
                            let av = _mm256_loadu_si256(y as *const __m256i);
                            lanes[c][r] = mad16::<V>(lanes[c][r], _mm256_maddubs_epi16(qv, av), s);
                        }
                    }
                }
                let s16 = _mm256_cvtepi8_epi16(scales);
                for r in 0..R {
                    let y = a[r].get_unchecked(b);
                    let bs = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                    let sub = _mm256_slli_epi32::<5>(_mm256_madd_epi16(bs, s16));
                    lanes[c][r] = _mm256_sub_epi32(lanes[c][r], sub);
                }
            }
            let d = half(if Q5 { &blk[0..2] } else { &blk[208..210] });
            for r in 0..R {
                let yd = a[r].get_unchecked(b).d;
                if !TILED {
                    let dd = _mm256_set1_ps(yd * d);
                    acc[c][r] = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(lanes[c][r]), acc[c][r]);
                    continue;
                }
                let s1 = hsum_i32(lanes[c][r]) as f32;
                let v = if Q5 {
                    (-half(&blk[2..4])).mul_add(imins[c][r] as f32, s1 * d)
                } else {
                    s1 * d
                };
                buf[r][c] = v.mul_add(yd, buf[r][c]);
            }
        }
    }
    if TILED {
        return buf;
    }
    crate::quant::lane_sums(&acc, &summs)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::quant::testing::activation_rows;

    /// `blocks` super-blocks of `kind` with varied scales and every quant
    /// value, from a fixed seed.
    pub(crate) fn weights(kind: KKind, blocks: usize, seed: u32) -> Vec<u8> {
        let mut r = seed;
        let mut next = move || {
            r = r.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (r >> 8) as u8
        };
        let bb = kind.block_bytes();
        let mut w = Vec::with_capacity(blocks * bb);
        for b in 0..blocks {
            let mut blk: Vec<u8> = (0..bb).map(|_| next()).collect();
            let d = f16::from_f32(0.002 * (b % 5 + 1) as f32);
            let dmin = f16::from_f32(0.001 * (b % 3 + 1) as f32);
            match kind {
                KKind::Q4K | KKind::Q5K => {
                    blk[0..2].copy_from_slice(&d.to_le_bytes());
                    blk[2..4].copy_from_slice(&dmin.to_le_bytes());
                }
                KKind::Q6K => {
                    blk[208..210].copy_from_slice(&(-d).to_le_bytes());
                    // Q6_K scales are signed bytes; ggml's lie in -128..=127.
                }
            }
            w.extend(blk);
        }
        w
    }

    fn dequantize(kind: KKind, blk: &[u8]) -> [f32; QK_K] {
        let v = values(kind, blk);
        let mut out = [0f32; QK_K];
        match kind {
            KKind::Q4K | KKind::Q5K => {
                let (sc, mn) = scales_mins(&blk[4..16]);
                let (d, dmin) = (half(&blk[0..2]), half(&blk[2..4]));
                for (i, o) in out.iter_mut().enumerate() {
                    *o = d * sc[i / 32] as f32 * v[i] as f32 - dmin * mn[i / 32] as f32;
                }
            }
            KKind::Q6K => {
                let d = half(&blk[208..210]);
                for (i, o) in out.iter_mut().enumerate() {
                    *o = d * (blk[192 + i / 16] as i8) as f32 * (v[i] as i32 - 32) as f32;
                }
            }
        }
        out
    }

    #[test]
    fn quantizes_like_ggml_q8_k() {
        let mut x = [0.25f32; QK_K];
        x[7] = -2.0; // the first largest magnitude is negative: iscale > 0
        x[9] = 2.0;
        x[3] = 1.0 / 127.0 * 2.0 * 0.5; // 0.5 a step: ties to even (0)
        let q = quantize_q8k(&x);
        assert_eq!(q.d, 1.0 / (127.0 / 2.0));
        assert_eq!((q.qs[7], q.qs[9], q.qs[0], q.qs[3]), (-127, 127, 16, 0));
        assert_eq!(
            q.bsums[0],
            q.qs[..16].iter().map(|&v| v as i16).sum::<i16>()
        );
        assert_eq!(q.q8s[0], q.bsums[0] + q.bsums[1]);
        // A tie between +max and -max: the reference takes the first, the
        // gemm's quantizer the positive one.
        let mut t = x;
        t[7] = -2.0;
        t[9] = 2.0;
        assert!(quantize_q8k(&t).d > 0.0);
        let tiled = quantize_q8k_tiled(&t);
        assert_eq!(tiled.d, -quantize_q8k(&t).d);
        assert_eq!((tiled.qs[7], tiled.qs[9], tiled.qs[0]), (127, -127, -16));
        assert_eq!(tiled.bsums[0], -quantize_q8k(&t).bsums[0]);
        let plain = quantize_q8k_tiled(&x.map(|v| v.abs()));
        assert_eq!(plain.qs, quantize_q8k(&x.map(|v| v.abs())).qs);
        let z = quantize_q8k(&[0.0; QK_K]);
        assert_eq!((z.d, z.qs[0], z.bsums[0]), (0.0, 0, 0));
    }

    #[test]
    fn vector_rounding_is_the_mirrors() {
        if !has_avx2() {
            eprintln!("no AVX2 on this CPU: only the plain rounding runs here");
            return;
        }
        let x = activation_rows(3, QK_K);
        for (n, row) in x.chunks_exact(QK_K).enumerate() {
            let mut row = row.to_vec();
            // Exact halves: ties to even both ways, and the largest value.
            row[5] = 2.5 / 127.0 * 3.0;
            row[6] = -3.5 / 127.0 * 3.0;
            row[7] = 3.0 + n as f32;
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            // Quants stay within -127..=127: both signs of the scale.
            for iscale in [127.0 / amax, -127.0 / amax] {
                let (mut plain, mut vector) = ([0i8; QK_K], [0i8; QK_K]);
                round_q8k(&row, iscale, &mut plain);
                // SAFETY: AVX2 checked; one super-block.
                unsafe { round_q8k_avx2(&row, iscale, &mut vector) };
                assert_eq!(plain, vector, "iscale {iscale}");
            }
        }
    }

    #[test]
    fn the_mirror_is_the_dot_of_the_dequantized_values() {
        // Independent of the lane order: the mirror must be the plain dot
        // product of ggml's dequantized weights and activations.
        let k = 512;
        let x = activation_rows(1, k);
        let a: Vec<Q8K> = x.chunks_exact(QK_K).map(quantize_q8k).collect();
        for kind in [KKind::Q4K, KKind::Q5K, KKind::Q6K] {
            let w = weights(kind, k / QK_K, 5);
            let mut exact = 0f64;
            for (blk, y) in w.chunks_exact(kind.block_bytes()).zip(&a) {
                let wv = dequantize(kind, blk);
                for (wi, &q) in wv.iter().zip(&y.qs) {
                    exact += *wi as f64 * (q as f32 * y.d) as f64;
                }
            }
            let got = dot_generic(kind, &w, &a, Sums::Row) as f64;
            for sums in [Sums::Gemm, Sums::Tiled] {
                let other = dot_generic(kind, &w, &a, sums) as f64;
                assert!(
                    (other - exact).abs() <= 1e-4 * exact.abs().max(1.0),
                    "{kind:?} {sums:?}"
                );
            }
            assert!(
                (got - exact).abs() <= 1e-4 * exact.abs().max(1.0),
                "{kind:?}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn four_row_tiles_give_the_mirrors_bits_in_both_sums() {
        if !has_avx2() {
            eprintln!("no AVX2 on this CPU: only the plain path runs here");
            return;
        }
        let k = 768;
        let x = activation_rows(4, k);
        let a: Vec<Q8K> = x.chunks_exact(QK_K).map(quantize_q8k).collect();
        let nb = k / QK_K;
        for kind in [KKind::Q5K, KKind::Q6K] {
            let w = weights(kind, 2 * nb, 8);
            let rb = nb * kind.block_bytes();
            let cols: [&[u8]; 2] = [&w[..rb], &w[rb..]];
            let rows: [&[Q8K]; 4] = std::array::from_fn(|r| &a[r * nb..(r + 1) * nb]);
            for sums in [Sums::Tiled, Sums::Row] {
                // SAFETY: AVX2 checked; two columns, four rows of nb blocks.
                let got = unsafe { micro_any::<4, 2>(false, kind, sums, cols, rows, nb) };
                for (r, row) in got.iter().enumerate() {
                    for (c, &v) in row.iter().enumerate() {
                        let want = dot_generic(kind, cols[c], rows[r], sums);
                        assert_eq!(v.to_bits(), want.to_bits(), "{kind:?} {sums:?} ({r}, {c})");
                    }
                }
            }
        }
    }

    #[test]
    fn every_path_gives_the_mirrors_bits() {
        let mut paths = vec![Path::Plain];
        if has_avx2() {
            paths.push(Path::Avx2);
        }
        if crate::quant::has_vnni() {
            paths.push(Path::Vnni);
        } else {
            eprintln!("no AVX-512 VNNI on this CPU: its K-quant path is not tested here");
        }
        let (n, k) = (11, 512);
        for kind in [KKind::Q4K, KKind::Q5K, KKind::Q6K] {
            let w = weights(kind, n * k / QK_K, 3);
            for m in [1, 3, 4, 9, 37] {
                let x = activation_rows(m, k);
                let a: Vec<Q8K> = x.chunks_exact(QK_K).map(quantize_q8k).collect();
                for (cols, &path) in [0..n, 1..6, 3..4, 2..11]
                    .iter()
                    .flat_map(|c| paths.iter().map(move |p| (c.clone(), p)))
                {
                    let mut out = vec![f32::NAN; m * n];
                    // SAFETY: m * n outputs, the columns ours, the CPU runs the path.
                    unsafe {
                        matmul_columns_on(
                            path,
                            kind,
                            &w,
                            n,
                            k,
                            &a,
                            m,
                            cols.clone(),
                            out.as_mut_ptr(),
                        )
                    };
                    let rb = k / QK_K * kind.block_bytes();
                    for col in 0..n {
                        for row in 0..m {
                            let got = out[row * n + col];
                            if !cols.contains(&col) {
                                assert!(got.is_nan(), "{kind:?} wrote column {col}");
                                continue;
                            }
                            let want = dot_generic(
                                kind,
                                &w[col * rb..(col + 1) * rb],
                                &a[row * k / QK_K..(row + 1) * k / QK_K],
                                sums_for(kind, row, m),
                            );
                            assert_eq!(
                                got.to_bits(),
                                want.to_bits(),
                                "{kind:?} {path:?} m {m} ({row}, {col})"
                            );
                        }
                    }
                }
            }
        }
    }
}
