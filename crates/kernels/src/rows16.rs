//! The kernel that Q5_0 and Q8_0 share once re-laid for AVX-512 VNNI
//! (`q5_0_packed`, `q8_packed`): sixteen weight rows a group, one per
//! 32-bit lane of a 512-bit vector, so that one `vpdpbusd` multiplies four
//! values of each of the sixteen rows by the same four activation bytes
//! (broadcast) and sums them into that row's lane.
//!
//! Both formats' blocks are 32 values with one f16 scale, and ggml sums
//! them the same way (`mul_sum_i8_pairs_float`): eight f32 lanes, each the
//! integer dot of four consecutive values times `d_w * d_a` (one
//! rounding), added with a fused multiply-add per block, the lanes summed
//! as `hsum_float_8` at the end. Here each of those eight lanes is a
//! vector of the sixteen rows, so the end is seven vector adds, not a
//! horizontal sum per dot: the rows are often short (SmolLM2's 576 values
//! are eighteen blocks), and the four-by-four tiles of `quant` spent a
//! fifth of their time there.
//!
//! The weights go in unsigned (`q + 16` for Q5_0, `q + 128` for Q8_0) and
//! each lane's integer starts at minus that offset times the sum of its
//! four activations: the same integers as ggml's, so the same bits.
//!
//! A step (one block of the group, ggml's own bytes a row) starts with the
//! sixteen rows' `d` (f16); the format's layout follows (see its module).

/// Weight rows per group: the lanes of a 512-bit vector of i32.
pub const GROUP: usize = 16;

/// Which format a step holds (a constant, so each compiles its own loop).
pub(crate) const Q5_0: u8 = 0;
pub(crate) const Q8_0: u8 = 1;

/// Offsets in a step: the rows' `d` (f16), then the format's weights.
pub(crate) const D: usize = 0;
pub(crate) const WEIGHTS: usize = D + 2 * GROUP;

/// Q5_0's weights: the fifth bits as eight 64-bit masks (one per ggml
/// lane), then the nibbles, sixteen rows' four bytes per chunk of four.
pub(crate) const Q5_0_MASKS: usize = WEIGHTS;
pub(crate) const Q5_0_QS: usize = Q5_0_MASKS + 8 * 8;

/// Bytes of a step: Q5_0's 22 and Q8_0's 34 bytes a row.
pub(crate) const fn step(format: u8) -> usize {
    match format {
        Q5_0 => Q5_0_QS + GROUP * 16,
        _ => WEIGHTS + GROUP * 32,
    }
}

/// Sixteen packed weight rows of `FORMAT` against `R` activation rows:
/// `[row][col]` dots.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::needless_range_loop)] // block b of every row: indices read clearer
pub(crate) unsafe fn micro<const FORMAT: u8, const R: usize>(
    grp: &[u8],
    a: [&[crate::Q8]; R],
    nb: usize,
) -> [[f32; GROUP]; R] {
    use std::arch::x86_64::*;
    let step = step(FORMAT);
    let low = _mm512_set1_epi8(0x0f);
    let sixteen = _mm512_set1_epi8(16);
    // The unsigned side's offset, as an unsigned byte.
    let offset = _mm256_set1_epi8(if FORMAT == Q5_0 { 16 } else { -128 });
    // acc[lane][r]: ggml's lane `lane` of every weight row.
    let mut acc = [[_mm512_setzero_ps(); R]; 8];
    // -offset * (each lane's four activations), per activation row: read
    // back as broadcasts (loads, not shuffles).
    let mut offs = [[0i32; 8]; R];
    let base = grp.as_ptr();
    for b in 0..nb {
        let p = base.add(b * step);
        let ys: [&crate::Q8; R] = std::array::from_fn(|r| a[r].get_unchecked(b));
        for r in 0..R {
            let q = _mm256_loadu_si256(ys[r].qs.as_ptr() as *const __m256i);
            let sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), offset, q);
            let neg = _mm256_sub_epi32(_mm256_setzero_si256(), sums);
            _mm256_storeu_si256(offs[r].as_mut_ptr() as *mut __m256i, neg);
        }
        let d = _mm512_cvtph_ps(_mm256_loadu_si256(p.add(D) as *const __m256i));
        // d_w * d_a per row and column: one rounding, as the mirror's.
        let dd: [__m512; R] = std::array::from_fn(|r| _mm512_mul_ps(d, _mm512_set1_ps(ys[r].d)));
        for j in 0..4 {
            // Lanes j and j + 4: one chunk's nibbles (Q5_0), two runs of
            // bytes (Q8_0).
            let w = if FORMAT == Q5_0 {
                let q = _mm512_loadu_si512(p.add(Q5_0_QS + 64 * j) as *const __m512i);
                let masks = p.add(Q5_0_MASKS) as *const u64;
                let (lo, hi) = (
                    _mm512_and_si512(q, low),
                    _mm512_and_si512(_mm512_srli_epi16::<4>(q), low),
                );
                let (blo, bhi): (__mmask64, __mmask64) = (
                    masks.add(j).read_unaligned(),
                    masks.add(j + 4).read_unaligned(),
                );
                [
                    _mm512_mask_add_epi8(lo, blo, lo, sixteen),
                    _mm512_mask_add_epi8(hi, bhi, hi, sixteen),
                ]
            } else {
                [
                    _mm512_loadu_si512(p.add(WEIGHTS + 64 * j) as *const __m512i),
                    _mm512_loadu_si512(p.add(WEIGHTS + 64 * (j + 4)) as *const __m512i),
                ]
            };
            for (h, w) in w.into_iter().enumerate() {
                let lane = j + 4 * h;
                for r in 0..R {
                    let y = ys[r].qs.as_ptr().add(4 * lane);
                    let ay = _mm512_set1_epi32((y as *const i32).read_unaligned());
                    let init = _mm512_set1_epi32(*offs[r].get_unchecked(lane));
                    let sum = _mm512_dpbusd_epi32(init, w, ay);
                    acc[lane][r] = _mm512_fmadd_ps(dd[r], _mm512_cvtepi32_ps(sum), acc[lane][r]);
                }
            }
        }
    }
    let mut res = [[0f32; GROUP]; R];
    for r in 0..R {
        // `hsum_float_8` a row per lane: (0 + 4, 1 + 5, 2 + 6, 3 + 7), then
        // (0 + 2) + (1 + 3).
        let s: [__m512; 4] = std::array::from_fn(|l| _mm512_add_ps(acc[l][r], acc[l + 4][r]));
        let sum = _mm512_add_ps(_mm512_add_ps(s[0], s[2]), _mm512_add_ps(s[1], s[3]));
        _mm512_storeu_ps(res[r].as_mut_ptr(), sum);
    }
    res
}
