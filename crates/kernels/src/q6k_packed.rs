//! Q6_K weights laid out again at load for AVX-512 VNNI, as `q4k_packed`
//! lays out Q4_K: sixteen weight rows a group, one per 32-bit lane, four
//! values of each row per lane, so one `vpdpbusd` takes four values of all
//! sixteen rows against four activation bytes (broadcast). Values are
//! numbered in chunks of four (chunk `i`: values `4i..4i + 4`, sub-block
//! `i / 4`). A super-block of a group (one step) holds:
//! - `d` of the sixteen rows (f16, as in ggml);
//! - the sixteen signed scales of each row, in pairs of sub-blocks
//!   (`[pair][row][2]`), so that sign-extended to 16 bits they are the
//!   `vpdpwssd` operand of `sum(scale * bsum)`;
//! - the values, in sixteen runs of three vectors, run `h` holding chunks
//!   `h`, `h + 16`, `h + 32`, `h + 48`: their low four bits (chunk `h` in
//!   the low nibbles of the first vector, `h + 32` in the high ones; `h + 16`
//!   and `h + 48` in the second), then their high two bits (bits 0-1, 2-3,
//!   4-5 and 6-7 of the third). A step is read in order (the hardware
//!   prefetcher follows one stream: with the low and high bits in separate
//!   regions, decode streamed at half the speed).
//!
//! That is ggml's own 210 bytes a row and super-block.
//!
//! The sums are `kquant`'s, with the same float steps: from 8 activation
//! rows, llama.cpp's tiled matmul (one exact integer per super-block); under
//! 8, its `vec_dot` (eight integer lanes, lane `l` taking chunks `8c + l`,
//! each fused into its own f32 lane, summed pairwise at the end).
use std::ops::Range;

use crate::kquant::{Q8K, QK_K, TILED_MIN_ROWS};
#[cfg(target_arch = "x86_64")]
use crate::packed::matmul_groups;
use crate::packed::{pack_groups, Packing};

/// Weight rows per group: the lanes of a 512-bit vector of i32.
pub const GROUP: usize = 16;

/// Offsets in a step: the rows' `d` (f16), their scales, their values.
const D: usize = 0;
const SCALES: usize = D + 2 * GROUP;
const VALUES: usize = SCALES + 16 * GROUP;
/// Bytes of one run of values (three vectors).
const RUN: usize = 3 * 64;
/// Bytes of one super-block of a group.
const STEP: usize = VALUES + 16 * RUN;

/// Sixteen rows a group, ggml's 210-byte super-blocks.
const PACKING: Packing = Packing {
    rows: GROUP,
    block_values: QK_K,
    block_bytes: 210,
    step: STEP,
};

/// Bytes an `(n, k)` Q6_K matrix is held in on this CPU: packed where
/// `pack_q6_k` packs it, else ggml's own blocks.
pub fn held_bytes(n: usize, k: usize) -> usize {
    PACKING.held_bytes(n, k)
}

/// `data` (`n` rows of `k / 256` ggml Q6_K super-blocks) in the packed
/// layout, when this CPU has the kernels for it.
pub fn pack_q6_k(data: &[u8], n: usize, k: usize, threads: usize) -> Option<Vec<u8>> {
    pack_groups(data, n, k, PACKING, threads, |dst, c, src| {
        dst[D + 2 * c..D + 2 * c + 2].copy_from_slice(&src[208..210]);
        for s in 0..16 {
            dst[SCALES + 2 * GROUP * (s / 2) + 2 * c + s % 2] = src[192 + s];
        }
        // ggml's layout (`kquant::values`): per half of 128 values, value
        // `128 * j + 32 * t + l` has its low bits in `ql[64 * j + 32 * (t % 2) + l]`
        // (high nibble when t >= 2) and its high bits in `qh[32 * j + l]`,
        // bits 2t and 2t + 1.
        let (ql, qh) = (&src[..128], &src[128..192]);
        for e in 0..QK_K {
            let (j, t, l) = (e / 128, e % 128 / 32, e % 32);
            let lo = (ql[64 * j + 32 * (t % 2) + l] >> (4 * (t / 2))) & 0x0f;
            let hi = (qh[32 * j + l] >> (2 * t)) & 3;
            let (chunk, v) = (e / 4, e % 4);
            let run = VALUES + RUN * (chunk % 16) + 4 * c + v;
            dst[run + 64 * (chunk % 32 / 16)] |= lo << (4 * (chunk / 32));
            dst[run + 128] |= hi << (2 * (chunk / 16));
        }
    })
}

/// `kquant::matmul_columns` for packed Q6_K (`n` weight rows, `k`
/// columns), summed as llama.cpp sums an `m`-row batch.
///
/// # Safety
/// As `q8_packed::matmul_packed`, with `data` from `pack_q6_k`, the
/// activations quantized by `kquant::quantize_q8k`, and `cols` on groups
/// of sixteen.
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul_packed(
    data: &[u8],
    n: usize,
    k: usize,
    acts: &[Q8K],
    m: usize,
    cols: Range<usize>,
    out: *mut f32,
) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract; the loop checks for VNNI.
    unsafe {
        if m >= TILED_MIN_ROWS {
            matmul_groups::<Q8K, GROUP, 4>(
                PACKING, tiled::<4>, tiled::<1>, data, n, k, acts, m, cols, out,
            )
        } else {
            matmul_groups::<Q8K, GROUP, 1>(PACKING, row, row, data, n, k, acts, m, cols, out)
        }
    };
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("pack_q6_k packs only for x86 VNNI kernels");
}

/// The four value vectors of chunks `h`, `h + 16`, `h + 32`, `h + 48` of
/// the step at `p`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn values(p: *const u8, h: usize) -> [std::arch::x86_64::__m512i; 4] {
    use std::arch::x86_64::*;
    let m4 = _mm512_set1_epi8(0x0f);
    let m2 = _mm512_set1_epi8(0x03);
    let m2hi = _mm512_set1_epi8(0x30);
    let run = p.add(VALUES + RUN * h);
    let ql0 = _mm512_loadu_si512(run as *const __m512i);
    let ql1 = _mm512_loadu_si512(run.add(64) as *const __m512i);
    let qh = _mm512_loadu_si512(run.add(128) as *const __m512i);
    // Shifts are of 16-bit words; each is masked to bits of its own byte.
    [
        _mm512_or_si512(
            _mm512_and_si512(ql0, m4),
            _mm512_slli_epi16::<4>(_mm512_and_si512(qh, m2)),
        ),
        _mm512_or_si512(
            _mm512_and_si512(ql1, m4),
            _mm512_slli_epi16::<2>(_mm512_and_si512(qh, _mm512_set1_epi8(0x0c))),
        ),
        _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi16::<4>(ql0), m4),
            _mm512_and_si512(qh, m2hi),
        ),
        _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi16::<4>(ql1), m4),
            _mm512_and_si512(_mm512_srli_epi16::<2>(qh), m2hi),
        ),
    ]
}

/// The sixteen rows' `d`, widened (exactly) to f32.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn d_of(p: *const u8) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    _mm512_cvtph_ps(_mm256_loadu_si256(p.add(D) as *const __m256i))
}

/// Four activation bytes of chunk `chunk`, in every lane.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn chunk_of(y: &Q8K, chunk: usize) -> std::arch::x86_64::__m512i {
    let at = y.qs.as_ptr().add(4 * chunk) as *const i32;
    std::arch::x86_64::_mm512_set1_epi32(at.read_unaligned())
}

/// The scales of sub-blocks `2u` and `2u + 1` of the sixteen rows as
/// 16-bit pairs (a 32-bit lane per row).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn scale_pairs(p: *const u8, u: usize) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::*;
    _mm512_cvtepi8_epi16(_mm256_loadu_si256(
        p.add(SCALES + 2 * GROUP * u) as *const __m256i
    ))
}

/// `sum(scale * bsum)` over sub-blocks `2u`, `2u + 1` of each row, added to
/// `acc`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn scaled_bsums(
    acc: std::arch::x86_64::__m512i,
    pairs: std::arch::x86_64::__m512i,
    y: &Q8K,
    u: usize,
) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::*;
    let b = y.bsums.as_ptr().add(2 * u) as *const i32;
    _mm512_dpwssd_epi32(acc, pairs, _mm512_set1_epi32(b.read_unaligned()))
}

/// Sixteen packed rows against `R` activation rows, llama.cpp's tiled
/// sums: per super-block `s1 = sum(scale * (dot - 32 * bsum))`, exact, then
/// `buf += (s1 * d_w) * d_a` (one rounding each, the last fused).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::needless_range_loop)] // block b of every row: indices read clearer
unsafe fn tiled<const R: usize>(grp: &[u8], a: [&[Q8K]; R], nb: usize) -> [[f32; GROUP]; R] {
    use std::arch::x86_64::*;
    let zero = _mm512_setzero_si512();
    let mut buf = [_mm512_setzero_ps(); R];
    let base = grp.as_ptr();
    for b in 0..nb {
        let p = base.add(b * STEP);
        let ys: [&Q8K; R] = std::array::from_fn(|r| a[r].get_unchecked(b));
        let mut total = [zero; R];
        let mut offset = [zero; R];
        // Quarter q: chunks 4q..4q + 4 (+16, +32, +48): sub-blocks q,
        // q + 4, q + 8, q + 12, each whole.
        for q in 0..4 {
            let mut sums = [[zero; R]; 4];
            for h in 4 * q..4 * q + 4 {
                let v = values(p, h);
                for (t, vt) in v.iter().enumerate() {
                    for r in 0..R {
                        let y = chunk_of(ys[r], h + 16 * t);
                        sums[t][r] = _mm512_dpbusd_epi32(sums[t][r], *vt, y);
                    }
                }
            }
            for t in 0..4 {
                let s = q + 4 * t;
                let pairs = scale_pairs(p, s / 2);
                // The pair's first or second scale, sign-extended.
                let sc = if s % 2 == 0 {
                    _mm512_srai_epi32::<16>(_mm512_slli_epi32::<16>(pairs))
                } else {
                    _mm512_srai_epi32::<16>(pairs)
                };
                for r in 0..R {
                    total[r] = _mm512_add_epi32(total[r], _mm512_mullo_epi32(sums[t][r], sc));
                }
            }
        }
        let d = d_of(p);
        for u in 0..8 {
            let pairs = scale_pairs(p, u);
            for r in 0..R {
                offset[r] = scaled_bsums(offset[r], pairs, ys[r], u);
            }
        }
        for r in 0..R {
            let s1 = _mm512_sub_epi32(total[r], _mm512_slli_epi32::<5>(offset[r]));
            let v = _mm512_mul_ps(_mm512_cvtepi32_ps(s1), d);
            buf[r] = _mm512_fmadd_ps(v, _mm512_set1_ps(ys[r].d), buf[r]);
        }
    }
    let mut res = [[0f32; GROUP]; R];
    for r in 0..R {
        _mm512_storeu_ps(res[r].as_mut_ptr(), buf[r]);
    }
    res
}

/// Sixteen packed rows against one activation row, as `vec_dot` sums it:
/// lane `l` (of eight) takes `scale * dot` of chunks `8c + l` less
/// `32 * sum(scale * bsum)` of sub-blocks `2l`, `2l + 1`, fused into its
/// own f32 lane with `d_a * d_w`; the lanes summed pairwise at the end.
/// Each chunk's `scale * dot` is a `vpmaddubsw` (pairs of products, at most
/// 2 * 63 * 127: never saturated) and a `vpdpwssd` with the scale in both
/// halves of the lane: 32-bit multiplies (`vpmulld`) made it twice as slow.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn row(grp: &[u8], a: [&[Q8K]; 1], nb: usize) -> [[f32; GROUP]; 1] {
    use std::arch::x86_64::*;
    let zero = _mm512_setzero_si512();
    // Within each lane (four bytes: two 16-bit scales), the first or the
    // second scale in both halves.
    let dup = |first: i8| {
        let (lo, hi) = (first, first + 1);
        let lane = [lo, hi, lo, hi];
        let b: [i8; 64] = std::array::from_fn(|i| lane[i % 4] + 4 * (i % 16 / 4) as i8);
        _mm512_loadu_si512(b.as_ptr() as *const __m512i)
    };
    let (first, second) = (dup(0), dup(2));
    let mut acc = [_mm512_setzero_ps(); 8];
    let base = grp.as_ptr();
    for b in 0..nb {
        let p = base.add(b * STEP);
        let y = a[0].get_unchecked(b);
        let pairs: [__m512i; 8] = std::array::from_fn(|u| scale_pairs(p, u));
        let sc: [__m512i; 16] = std::array::from_fn(|s| {
            _mm512_shuffle_epi8(pairs[s / 2], if s % 2 == 0 { first } else { second })
        });
        let mut lanes = [zero; 8];
        // Chunk h + 16t goes to lane h % 8: the lane loop innermost and
        // whole, so the lanes stay in registers.
        for half in 0..2 {
            for (l, lane) in lanes.iter_mut().enumerate() {
                let h = 8 * half + l;
                let v = values(p, h);
                for (t, vt) in v.iter().enumerate() {
                    let chunk = h + 16 * t;
                    let two = _mm512_maddubs_epi16(*vt, chunk_of(y, chunk));
                    *lane = _mm512_dpwssd_epi32(*lane, two, sc[chunk / 4]);
                }
            }
        }
        let dd = _mm512_mul_ps(_mm512_set1_ps(y.d), d_of(p));
        for (l, lane) in lanes.iter().enumerate() {
            let offset = scaled_bsums(zero, pairs[l], y, l);
            let v = _mm512_sub_epi32(*lane, _mm512_slli_epi32::<5>(offset));
            acc[l] = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(v), acc[l]);
        }
    }
    // `hsum8`'s order, a row per lane.
    let r: [__m512; 4] = std::array::from_fn(|i| _mm512_add_ps(acc[i], acc[i + 4]));
    let sum = _mm512_add_ps(_mm512_add_ps(r[0], r[2]), _mm512_add_ps(r[1], r[3]));
    let mut res = [[0f32; GROUP]; 1];
    _mm512_storeu_ps(res[0].as_mut_ptr(), sum);
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kquant::tests::weights;
    use crate::kquant::{dot_generic, quantize_q8k, sums_for, KKind};
    use crate::quant::testing::activation_rows;

    /// Packed against the mirror, every row and column, for `w` (`n` rows).
    fn check(w: &[u8], n: usize, k: usize, x: &dyn Fn(usize) -> Vec<f32>) {
        let nb = k / QK_K;
        let Some(packed) = pack_q6_k(w, n, k, 1) else {
            eprintln!("no AVX-512 VNNI on this CPU: packed Q6_K is not tested here");
            return;
        };
        assert_eq!(packed.len(), held_bytes(n, k));
        let rb = nb * 210;
        // Under 8 rows (vec_dot: 1, 3, 7), from 8 (tiled: 8, 13, 70).
        for m in [1, 3, 7, 8, 13, 70] {
            let xs = x(m);
            let a: Vec<Q8K> = xs.chunks_exact(QK_K).map(quantize_q8k).collect();
            for cols in [0..n, 16..32, 32..48, 0..16] {
                let mut out = vec![f32::NAN; m * n];
                // SAFETY: packed for (n, k); cols on groups; m * n outputs.
                unsafe { matmul_packed(&packed, n, k, &a, m, cols.clone(), out.as_mut_ptr()) };
                for row in 0..m {
                    for col in 0..n {
                        let got = out[row * n + col];
                        if !cols.contains(&col) {
                            assert!(got.is_nan(), "m {m}: wrote column {col}");
                            continue;
                        }
                        let want = dot_generic(
                            KKind::Q6K,
                            &w[col * rb..(col + 1) * rb],
                            &a[row * nb..(row + 1) * nb],
                            sums_for(KKind::Q6K, row, m),
                        );
                        assert_eq!(got.to_bits(), want.to_bits(), "m {m} ({row}, {col})");
                    }
                }
            }
        }
    }

    #[test]
    fn packed_q6_k_gives_the_mirrors_bits() {
        // Two groups of sixteen and a padded one of five.
        let (n, k) = (37, 768);
        let w = weights(KKind::Q6K, n * k / QK_K, 13);
        check(&w, n, k, &|m| activation_rows(m, k));
        assert_eq!(held_bytes(n, k), held_bytes(48, k), "a padded group");
    }

    #[test]
    fn the_largest_sums_stay_exact() {
        // Every value 63 (or 0), scales at -128 and 127, activations at
        // -127: the largest integers either sum forms.
        let (n, k) = (16, 512);
        let mut w = Vec::new();
        for b in 0..n * k / QK_K {
            let mut blk = [0xffu8; 210];
            if b % 2 == 1 {
                blk[..192].fill(0);
            }
            for s in 0..16 {
                blk[192 + s] = if (s + b) % 2 == 0 { 0x80 } else { 0x7f };
            }
            blk[208..210].copy_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
            w.extend(blk);
        }
        check(&w, n, k, &|m| vec![-1.0; m * k]);
    }
}
