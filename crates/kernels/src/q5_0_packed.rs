//! Q5_0 weights laid out again at load for AVX-512 VNNI: sixteen weight
//! rows a group, one per 32-bit lane of a 512-bit vector (as
//! `q4k_packed`), so that one `vpdpbusd` multiplies four values of each of
//! the sixteen rows by the same four activation bytes (broadcast). Q5_0 is
//! what llama.cpp's Q4_K_M falls back to for rows not a multiple of 256
//! values (every matrix of SmolLM2 but its down projections); its rows are
//! short (576 values: eighteen blocks), so the four-by-four tiles of
//! `quant` spent a fifth of their time summing lanes at the end. Here each
//! of ggml's eight lanes is a vector of the sixteen rows, summed at the end
//! with seven vector adds.
//!
//! A block of a group (one step, ggml's own 22 bytes a row) holds:
//! - `d` of the sixteen rows (f16);
//! - the fifth bits as eight 64-bit masks, one per ggml lane: bit `4c + t`
//!   of lane `j`'s is row `c`'s bit of value `4j + t`;
//! - the nibbles, per four bytes of ggml's `qs`: the sixteen rows' four
//!   bytes in a row (64 bytes), so chunk `j`'s low nibbles are ggml's lane
//!   `j` (values `4j..4j + 4`) and its high nibbles lane `j + 4`.
//!
//! The weights go in unsigned (`q + 16`, the fifth bit added with the mask)
//! and each lane's integer starts at `-16 * sum(a)` of its four activations:
//! the integers of ggml's `mul_sum_i8_pairs_float`. Each lane then takes
//! `d_w * d_a` (one rounding) with a fused multiply-add per block, and the
//! lanes are summed as `hsum_float_8`: `dot_generic`'s bits.
use std::ops::Range;

#[cfg(target_arch = "x86_64")]
use crate::packed::matmul_groups;
use crate::packed::{pack_groups, Packing};
use crate::quant::Q8;

/// Weight rows per group: the lanes of a 512-bit vector of i32.
pub const GROUP: usize = 16;

/// Offsets in a step: the rows' `d` (f16), the fifth-bit masks (a u64 per
/// ggml lane), then the nibbles (`[4 bytes][row]` per chunk of four).
const D: usize = 0;
const MASKS: usize = D + 2 * GROUP;
const QS: usize = MASKS + 8 * 8;
/// Bytes of one block of a group.
const STEP: usize = QS + GROUP * 16;

/// Sixteen rows a group, ggml's 22-byte blocks of 32 values.
const PACKING: Packing = Packing {
    rows: GROUP,
    block_values: 32,
    block_bytes: 22,
    step: STEP,
};

/// Bytes an `(n, k)` Q5_0 matrix is held in on this CPU: packed where
/// `pack_q5_0` packs it, else ggml's own blocks.
pub fn held_bytes(n: usize, k: usize) -> usize {
    PACKING.held_bytes(n, k)
}

/// `data` (`n` rows of `k / 32` ggml Q5_0 blocks) in the packed layout,
/// when this CPU has the kernels for it.
pub fn pack_q5_0(data: &[u8], n: usize, k: usize) -> Option<Vec<u8>> {
    pack_groups(data, n, k, PACKING, |dst, c, src| {
        dst[D + 2 * c..D + 2 * c + 2].copy_from_slice(&src[0..2]);
        let qh = u32::from_le_bytes([src[2], src[3], src[4], src[5]]);
        // Lane j's four bits of row c: nibble c of the lane's mask (the
        // step starts zeroed; a padded row's bits stay clear).
        for lane in 0..8 {
            let bits = ((qh >> (4 * lane)) & 0xf) as u8;
            dst[MASKS + 8 * lane + c / 2] |= bits << (4 * (c % 2));
        }
        for (j, four) in src[6..22].chunks_exact(4).enumerate() {
            let at = QS + 64 * j + 4 * c;
            dst[at..at + 4].copy_from_slice(four);
        }
    })
}

/// `matmul_columns` for packed Q5_0 (`n` weight rows, `k` columns), two
/// activation rows at a time (eight lanes of sums each: sixteen registers).
///
/// # Safety
/// As `q8_packed::matmul_packed`, with `data` from `pack_q5_0` and `cols`
/// on groups of sixteen.
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul_packed(
    data: &[u8],
    n: usize,
    k: usize,
    acts: &[Q8],
    m: usize,
    cols: Range<usize>,
    out: *mut f32,
) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract; the loop checks for VNNI.
    unsafe {
        matmul_groups::<Q8, GROUP, 2>(
            PACKING, micro::<2>, micro::<1>, data, n, k, acts, m, cols, out,
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("pack_q5_0 packs only for x86 VNNI kernels");
}

/// Sixteen packed weight rows against `R` activation rows: `[row][col]`
/// dots.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::needless_range_loop)] // block b of every row: indices read clearer
unsafe fn micro<const R: usize>(grp: &[u8], a: [&[Q8]; R], nb: usize) -> [[f32; GROUP]; R] {
    use std::arch::x86_64::*;
    let low = _mm512_set1_epi8(0x0f);
    let sixteen = _mm512_set1_epi8(16);
    // acc[lane][r]: ggml's lane `lane` of every weight row.
    let mut acc = [[_mm512_setzero_ps(); R]; 8];
    // -16 * (each lane's four activations), per activation row: read back
    // as broadcasts (loads, not shuffles).
    let mut offs = [[0i32; 8]; R];
    let base = grp.as_ptr();
    for b in 0..nb {
        let p = base.add(b * STEP);
        let ys: [&Q8; R] = std::array::from_fn(|r| a[r].get_unchecked(b));
        for r in 0..R {
            let q = _mm256_loadu_si256(ys[r].qs.as_ptr() as *const __m256i);
            let sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(16), q);
            let neg = _mm256_sub_epi32(_mm256_setzero_si256(), sums);
            _mm256_storeu_si256(offs[r].as_mut_ptr() as *mut __m256i, neg);
        }
        let d = _mm512_cvtph_ps(_mm256_loadu_si256(p.add(D) as *const __m256i));
        // d_w * d_a per row and column: one rounding, as the mirror's.
        let dd: [__m512; R] = std::array::from_fn(|r| _mm512_mul_ps(d, _mm512_set1_ps(ys[r].d)));
        let masks = p.add(MASKS) as *const u64;
        for j in 0..4 {
            let q = _mm512_loadu_si512(p.add(QS + 64 * j) as *const __m512i);
            let nib = [
                _mm512_and_si512(q, low),
                _mm512_and_si512(_mm512_srli_epi16::<4>(q), low),
            ];
            for (h, nib) in nib.into_iter().enumerate() {
                let lane = j + 4 * h;
                let bits: __mmask64 = masks.add(lane).read_unaligned();
                let w = _mm512_mask_add_epi8(nib, bits, nib, sixteen);
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
    use super::*;
    use crate::quant::testing::{activation_rows, assert_dots, weights};
    use crate::quant::{quantize_activations, Kind};

    #[test]
    fn packed_q5_0_gives_the_mirrors_bits() {
        // Two groups of sixteen and a padded one of five.
        let (n, k) = (37, 576);
        let w = weights(Kind::Q5_0, n * k / 32, 5);
        let Some(packed) = pack_q5_0(&w, n, k) else {
            eprintln!("no AVX-512 VNNI on this CPU: packed Q5_0 is not tested here");
            return;
        };
        assert_eq!(packed.len(), held_bytes(n, k));
        assert_eq!(held_bytes(n, k), held_bytes(48, k), "a padded group");
        assert_eq!(held_bytes(48, k), 48 * k / 32 * 22, "ggml's own size");
        // Decode (1), an odd row out (3, 133), pairs only (8), both (70).
        for m in [1, 3, 8, 70, 133] {
            let a = quantize_activations(&activation_rows(m, k), Kind::Q5_0);
            for cols in [0..n, 16..32, 32..48, 0..16] {
                let mut out = vec![f32::NAN; m * n];
                // SAFETY: packed for (n, k); cols on groups; m * n outputs.
                unsafe { matmul_packed(&packed, n, k, &a, m, cols.clone(), out.as_mut_ptr()) };
                let label = format!("packed, m {m}");
                assert_dots(Kind::Q5_0, &w, n, k, &a, m, &cols, &out, &label);
            }
        }
    }

    #[test]
    fn the_largest_sums_stay_exact() {
        // Every value 15 (all bits set) or -16 (all clear), activations at
        // -127: the largest integers of either sign.
        let (n, k) = (16, 256);
        for fill in [0xffu8, 0x00] {
            let mut blk = [fill; 22];
            blk[0..2].copy_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
            let w: Vec<u8> = blk.iter().copied().cycle().take(n * k / 32 * 22).collect();
            let Some(packed) = pack_q5_0(&w, n, k) else {
                eprintln!("no AVX-512 VNNI on this CPU: packed Q5_0 is not tested here");
                return;
            };
            for m in [1, 2] {
                let a = quantize_activations(&vec![-1.0f32; m * k], Kind::Q5_0);
                assert_eq!(a[0].qs[0], -127);
                let mut out = vec![f32::NAN; m * n];
                // SAFETY: packed for (n, k); all columns; m * n outputs.
                unsafe { matmul_packed(&packed, n, k, &a, m, 0..n, out.as_mut_ptr()) };
                assert_dots(Kind::Q5_0, &w, n, k, &a, m, &(0..n), &out, "extremes");
            }
        }
    }
}
