//! Q4_K weights laid out again at load for AVX-512 VNNI: sixteen weight
//! rows a group, one per 32-bit lane of a 512-bit vector, so that one
//! `vpdpbusd` multiplies four values of each of the sixteen rows by the
//! same four activation bytes (broadcast) and sums them into that row's
//! lane. A super-block of a group (one step) holds:
//! - `d` and `dmin` of the sixteen rows (f16, as in ggml);
//! - the twelve bytes of packed 6-bit scales and mins of each row, as three
//!   vectors of four bytes a row (unpacked for all sixteen rows at once);
//! - the nibbles, per pair of sub-blocks and per four values: the sixteen
//!   rows' four bytes in a row (64 bytes). The bytes are ggml's own
//!   (`qs[32 * pair + 4 * chunk..][..4]`), so the low nibbles are sub-block
//!   `2 * pair` and the high ones `2 * pair + 1`, as in ggml.
//!
//! That is ggml's own 144 bytes a row and super-block: decode streams the
//! weights, so every byte counts (f32 `d`s and unpacked scales, 5.6% more,
//! decoded 4% slower). A group's steps are read in order, and the
//! hardware prefetcher follows them: software prefetches ahead halved the
//! decode's bandwidth here (14 against 28 GB/s on one core).
//!
//! The sums are `kquant`'s (llama.cpp's repacked Q4_K kernels, see there):
//! integers are exact in any order, and the float steps are the same ones.
//! The gemm rows (four at a time) add one fused multiply-add per pair of
//! sub-blocks; each pair's `scale * sum` is formed in f32, exactly (every
//! term is an integer under 2^23). The gemv rows (decode) add one per
//! super-block, its integer summed with 32-bit multiplies (up to 2^25: not
//! exact in f32).
use std::ops::Range;

use crate::kquant::{Q8K, QK_K};
#[cfg(target_arch = "x86_64")]
use crate::packed::matmul_groups;
use crate::packed::{pack_groups, Packing};

/// Weight rows per group: the lanes of a 512-bit vector of i32.
pub const GROUP: usize = 16;

/// Offsets in a step: the rows' `d` and `dmin` (f16), their packed scales
/// and mins (`[4 bytes][row]`, three times), then the nibbles.
const D: usize = 0;
const DMIN: usize = D + 2 * GROUP;
const SCALES: usize = DMIN + 2 * GROUP;
const QS: usize = SCALES + 12 * GROUP;
/// Bytes of one super-block of a group.
const STEP: usize = QS + GROUP * QK_K / 2;

/// Sixteen rows a group, ggml's 144-byte super-blocks.
const PACKING: Packing = Packing {
    rows: GROUP,
    block_values: QK_K,
    block_bytes: 144,
    step: STEP,
};

/// Bytes an `(n, k)` Q4_K matrix is held in on this CPU: packed where
/// `pack_q4_k` packs it, else ggml's own blocks.
pub fn held_bytes(n: usize, k: usize) -> usize {
    PACKING.held_bytes(n, k)
}

/// `data` (`n` rows of `k / 256` ggml Q4_K super-blocks) in the packed
/// layout, when this CPU has the kernels for it.
pub fn pack_q4_k(data: &[u8], n: usize, k: usize, threads: usize) -> Option<Vec<u8>> {
    pack_groups(data, n, k, PACKING, threads, |dst, c, src| {
        dst[D + 2 * c..D + 2 * c + 2].copy_from_slice(&src[0..2]);
        dst[DMIN + 2 * c..DMIN + 2 * c + 2].copy_from_slice(&src[2..4]);
        for (i, four) in src[4..16].chunks_exact(4).enumerate() {
            let at = SCALES + 4 * (GROUP * i + c);
            dst[at..at + 4].copy_from_slice(four);
        }
        // Chunk i (four bytes) of the 32 of ggml's nibbles: pair i / 8.
        for (i, four) in src[16..144].chunks_exact(4).enumerate() {
            let at = QS + (GROUP * i + c) * 4;
            dst[at..at + 4].copy_from_slice(four);
        }
    })
}

/// `kquant::matmul_columns` for packed Q4_K (`n` weight rows, `k`
/// columns): llama.cpp's gemm rows four at a time, its gemv rows (the last
/// `m % 4`) one at a time.
///
/// # Safety
/// As `q8_packed::matmul_packed`, with `data` from `pack_q4_k`, the
/// activations quantized as `kquant::quantize_q8k_row` does for Q4_K, and
/// `cols` on groups of sixteen.
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
        matmul_groups::<Q8K, GROUP, 4>(
            PACKING, micro::<4>, micro::<1>, data, n, k, acts, m, cols, out,
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("pack_q4_k packs only for x86 VNNI kernels");
}

/// The eight scales and eight mins of the sixteen rows (a 32-bit lane
/// each) from their packed bytes at `p`, as `get_scale_min_k4` unpacks
/// them (`kquant::unpack_scales`, a row per lane).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn scales_mins(
    p: *const u8,
) -> (
    [std::arch::x86_64::__m512i; 8],
    [std::arch::x86_64::__m512i; 8],
) {
    use std::arch::x86_64::*;
    let u: [__m512i; 3] =
        std::array::from_fn(|i| _mm512_loadu_si512(p.add(64 * i) as *const __m512i));
    let (k1, k2, k3) = (
        _mm512_set1_epi32(0x3f3f_3f3f),
        _mm512_set1_epi32(0x0f0f_0f0f),
        _mm512_set1_epi32(0x0303_0303),
    );
    let high = |x: __m512i, y: __m512i| {
        let top = _mm512_slli_epi32::<4>(_mm512_and_si512(_mm512_srli_epi32::<6>(y), k3));
        _mm512_or_si512(_mm512_and_si512(x, k2), top)
    };
    // Bytes 0..4 of each lane: sub-blocks 0..4; the next vector 4..8.
    let sc = [_mm512_and_si512(u[0], k1), high(u[2], u[0])];
    let mn = [
        _mm512_and_si512(u[1], k1),
        high(_mm512_srli_epi32::<4>(u[2]), u[1]),
    ];
    let byte = |v: &[__m512i; 2], s: usize| {
        let shifted = _mm512_srl_epi32(v[s / 4], _mm_cvtsi32_si128(8 * (s % 4) as i32));
        _mm512_and_si512(shifted, _mm512_set1_epi32(0xff))
    };
    (
        std::array::from_fn(|s| byte(&sc, s)),
        std::array::from_fn(|s| byte(&mn, s)),
    )
}

/// Sixteen packed weight rows against `R` activation rows: `[row][col]`
/// dots. `R > 1`: llama.cpp's gemm (a fused multiply-add per pair of
/// sub-blocks); `R == 1`: its gemv (one per super-block).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::needless_range_loop)] // block b of every row: indices read clearer
unsafe fn micro<const R: usize>(grp: &[u8], a: [&[Q8K]; R], nb: usize) -> [[f32; GROUP]; R] {
    use std::arch::x86_64::*;
    let gemm = R > 1;
    let low = _mm512_set1_epi8(0x0f);
    let zero = _mm512_setzero_si512();
    let mut acc = [_mm512_setzero_ps(); R];
    let mut accm = [_mm512_setzero_ps(); R];
    let base = grp.as_ptr();
    for b in 0..nb {
        let p = base.add(b * STEP);
        let ys: [&Q8K; R] = std::array::from_fn(|r| a[r].get_unchecked(b));
        let d = _mm512_cvtph_ps(_mm256_loadu_si256(p.add(D) as *const __m256i));
        let dmin = _mm512_cvtph_ps(_mm256_loadu_si256(p.add(DMIN) as *const __m256i));
        // d_w * d_a per row and column: one rounding, as the mirror's.
        let dd: [__m512; R] = std::array::from_fn(|r| _mm512_mul_ps(d, _mm512_set1_ps(ys[r].d)));
        let ddm: [__m512; R] =
            std::array::from_fn(|r| _mm512_mul_ps(dmin, _mm512_set1_ps(ys[r].d)));
        let (sc, mn) = scales_mins(p.add(SCALES));
        // The gemv's per-super-block integers.
        let mut isum = [zero; R];
        let mut imin = [zero; R];
        for pair in 0..4 {
            // Per row, the sums of sub-blocks 2 * pair (low nibbles) and
            // 2 * pair + 1 (high), a lane per weight row.
            // One row alone keeps four chains of sums per half, so that
            // `vpdpbusd`'s latency does not bound it (exact in any order).
            let mut lo = [[zero; R]; 4];
            let mut hi = [[zero; R]; 4];
            let chains = if R == 1 { 4 } else { 1 };
            for chunk in 0..8 {
                let q = _mm512_loadu_si512(p.add(QS + 64 * (8 * pair + chunk)) as *const __m512i);
                let wl = _mm512_and_si512(q, low);
                let wh = _mm512_and_si512(_mm512_srli_epi16::<4>(q), low);
                let ch = chunk % chains;
                for r in 0..R {
                    let y = ys[r].qs.as_ptr().add(64 * pair + 4 * chunk);
                    let al = _mm512_set1_epi32((y as *const i32).read_unaligned());
                    let ah = _mm512_set1_epi32((y.add(32) as *const i32).read_unaligned());
                    lo[ch][r] = _mm512_dpbusd_epi32(lo[ch][r], wl, al);
                    hi[ch][r] = _mm512_dpbusd_epi32(hi[ch][r], wh, ah);
                }
            }
            for ch in 1..chains {
                for r in 0..R {
                    lo[0][r] = _mm512_add_epi32(lo[0][r], lo[ch][r]);
                    hi[0][r] = _mm512_add_epi32(hi[0][r], hi[ch][r]);
                }
            }
            let [lo, hi, ..] = [lo[0], hi[0]];
            let (s0, s1) = (2 * pair, 2 * pair + 1);
            let (sc0, sc1) = (sc[s0], sc[s1]);
            let (mn0, mn1) = (mn[s0], mn[s1]);
            for r in 0..R {
                let q8s = ys[r].q8s;
                if gemm {
                    // Exact in f32: |sum| <= 32 * 15 * 127, scale < 64,
                    // |q8s| <= 32 * 127, min < 64.
                    let f = |v: __m512i| _mm512_cvtepi32_ps(v);
                    let scaled = _mm512_fmadd_ps(f(hi[r]), f(sc1), _mm512_mul_ps(f(lo[r]), f(sc0)));
                    acc[r] = _mm512_fmadd_ps(scaled, dd[r], acc[r]);
                    let mins = _mm512_fmadd_ps(
                        f(mn1),
                        _mm512_set1_ps(q8s[s1] as f32),
                        _mm512_mul_ps(f(mn0), _mm512_set1_ps(q8s[s0] as f32)),
                    );
                    accm[r] = _mm512_fmadd_ps(mins, ddm[r], accm[r]);
                } else {
                    let scaled = _mm512_add_epi32(
                        _mm512_mullo_epi32(lo[r], sc0),
                        _mm512_mullo_epi32(hi[r], sc1),
                    );
                    isum[r] = _mm512_add_epi32(isum[r], scaled);
                    let mins = _mm512_add_epi32(
                        _mm512_mullo_epi32(mn0, _mm512_set1_epi32(q8s[s0] as i32)),
                        _mm512_mullo_epi32(mn1, _mm512_set1_epi32(q8s[s1] as i32)),
                    );
                    imin[r] = _mm512_add_epi32(imin[r], mins);
                }
            }
        }
        if !gemm {
            for r in 0..R {
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r]), dd[r], acc[r]);
                accm[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(imin[r]), ddm[r], accm[r]);
            }
        }
    }
    let mut res = [[0f32; GROUP]; R];
    for r in 0..R {
        _mm512_storeu_ps(res[r].as_mut_ptr(), _mm512_sub_ps(acc[r], accm[r]));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kquant::tests::weights;
    use crate::kquant::{dot_generic, quantize_q8k_row, sums_for, KKind};
    use crate::quant::testing::activation_rows;

    #[test]
    fn packed_q4_k_gives_the_mirrors_bits() {
        // Two groups of sixteen and a padded one of five.
        let (n, k) = (37, 768);
        let nb = k / QK_K;
        let w = weights(KKind::Q4K, n * nb, 11);
        let Some(packed) = pack_q4_k(&w, n, k, 1) else {
            eprintln!("no AVX-512 VNNI on this CPU: packed Q4_K is not tested here");
            return;
        };
        assert_eq!(packed.len(), held_bytes(n, k));
        assert_eq!(held_bytes(n, k), held_bytes(48, k), "a padded group");
        let rb = nb * 144;
        // Decode (1), gemv rows only (3), gemm rows only (4, 8), both (6,
        // 70), more than a tile of rows (133).
        for m in [1, 3, 4, 6, 8, 70, 133] {
            let x = activation_rows(m, k);
            let mut a = vec![Q8K::ZERO; m * nb];
            for r in 0..m {
                let row = &mut a[r * nb..(r + 1) * nb];
                quantize_q8k_row(KKind::Q4K, r, m, &x[r * k..(r + 1) * k], row);
            }
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
                            KKind::Q4K,
                            &w[col * rb..(col + 1) * rb],
                            &a[row * nb..(row + 1) * nb],
                            sums_for(KKind::Q4K, row, m),
                        );
                        assert_eq!(got.to_bits(), want.to_bits(), "m {m} ({row}, {col})");
                    }
                }
            }
        }
    }

    #[test]
    fn the_largest_sums_stay_exact() {
        // Every nibble 15, every scale and min 63, every activation -127:
        // the largest integers either sum forms (and d, dmin positive).
        let (n, k) = (16, 512);
        let nb = k / QK_K;
        let mut blk = [0xffu8; 144];
        blk[0..2].copy_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
        blk[2..4].copy_from_slice(&half::f16::from_f32(0.25).to_le_bytes());
        let w: Vec<u8> = blk.iter().copied().cycle().take(n * nb * 144).collect();
        let Some(packed) = pack_q4_k(&w, n, k, 1) else {
            eprintln!("no AVX-512 VNNI on this CPU: packed Q4_K is not tested here");
            return;
        };
        for m in [1, 4] {
            let x = vec![-1.0f32; m * k];
            let mut a = vec![Q8K::ZERO; m * nb];
            for r in 0..m {
                let row = &mut a[r * nb..(r + 1) * nb];
                quantize_q8k_row(KKind::Q4K, r, m, &x[r * k..(r + 1) * k], row);
            }
            assert_eq!(a[0].qs[0], -127);
            let mut out = vec![f32::NAN; m * n];
            // SAFETY: packed for (n, k); all columns; m * n outputs.
            unsafe { matmul_packed(&packed, n, k, &a, m, 0..n, out.as_mut_ptr()) };
            for row in 0..m {
                let want = dot_generic(
                    KKind::Q4K,
                    &w[..nb * 144],
                    &a[row * nb..(row + 1) * nb],
                    sums_for(KKind::Q4K, row, m),
                );
                for col in 0..n {
                    assert_eq!(out[row * n + col].to_bits(), want.to_bits(), "m {m}");
                }
            }
        }
    }
}
