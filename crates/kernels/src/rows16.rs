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

#[cfg(test)]
mod tests {
    use crate::quant::testing::{activation_rows, packed_gives_the_mirrors_bits, weights};
    use crate::quant::testing::{Matmul, Pack};
    use crate::quant::{has_vnni, Kind};
    use crate::{q5_0_packed, q8_packed};

    /// Each sixteen-row format: its kind, pack, matmul, held bytes and
    /// ggml's bytes a block.
    type Held = fn(usize, usize) -> usize;
    const FORMATS: [(Kind, Pack, Matmul, Held, usize); 2] = [
        (
            Kind::Q5_0,
            q5_0_packed::pack_q5_0,
            q5_0_packed::matmul_packed,
            q5_0_packed::held_bytes,
            22,
        ),
        (
            Kind::Q8_0,
            q8_packed::pack_q8_0,
            q8_packed::matmul_packed,
            q8_packed::held_bytes,
            34,
        ),
    ];

    #[test]
    fn packed_layouts_give_the_mirrors_bits() {
        // Two groups of sixteen and a padded one of five.
        let (n, k) = (37, 576);
        for (kind, pack, matmul, held, bb) in FORMATS {
            let w = weights(kind, n * k / 32, 5);
            assert_eq!(held(n, k), held(48, k), "{kind:?}: a padded group");
            if has_vnni() {
                assert_eq!(held(48, k), 48 * k / 32 * bb, "{kind:?}: ggml's own size");
            }
            // Decode (1), an odd row out (3, 133), pairs only (8), both (70).
            for m in [1, 3, 8, 70, 133] {
                let cols = [0..n, 16..32, 32..48, 0..16];
                let x = activation_rows(m, k);
                if !packed_gives_the_mirrors_bits(kind, pack, matmul, &w, n, k, &x, m, &cols) {
                    return;
                }
            }
        }
    }

    #[test]
    fn the_largest_sums_stay_exact() {
        // The largest integers of either sign: Q5_0's values all 15 (every
        // bit set) or all -16 (none), against activations at -127; Q8_0's
        // weights at 127 or -127, against activations at -127 or 127.
        let (n, k) = (16, 256);
        let cases: [(Kind, u8, f32); 5] = [
            (Kind::Q5_0, 0xff, -1.0),
            (Kind::Q5_0, 0x00, -1.0),
            (Kind::Q8_0, 127, -1.0),
            (Kind::Q8_0, -127i8 as u8, -1.0),
            (Kind::Q8_0, 127, 1.0),
        ];
        for (kind, fill, x) in cases {
            let (_, pack, matmul, _, bb) = FORMATS.into_iter().find(|f| f.0 == kind).unwrap();
            let mut blk = vec![fill; bb];
            blk[0..2].copy_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
            let w: Vec<u8> = blk.iter().copied().cycle().take(n * k / 32 * bb).collect();
            for m in [1, 2] {
                let x = vec![x; m * k]; // quantized to -127 or 127
                let all = [0..n, 0..0]; // every column (and an empty range)
                if !packed_gives_the_mirrors_bits(kind, pack, matmul, &w, n, k, &x, m, &all) {
                    return;
                }
            }
        }
    }
}
