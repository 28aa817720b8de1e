//! Q4_1 weights laid out again at load for the AVX-512 VNNI kernels. Per
//! group of four weight rows and per block (80 bytes, as in ggml): the four
//! scales `d`, the four minimums `m` (f16 each), then two 32-byte runs of
//! packed nibbles, rows `0 | 1` and `2 | 3`. One 32-byte load then yields
//! two rows' low nibbles (elements 0..16 of each) with one mask and their
//! high nibbles (16..32) with a shift and a mask, against the activation's
//! halves broadcast to both 128-bit lanes; every `dpbusd` lane still sums
//! the four elements ggml's lane does, and each row's eight lanes are
//! reassembled before the final sum, so the bits are `dot_generic`'s.
use std::ops::Range;

#[cfg(target_arch = "x86_64")]
use crate::packed::matmul_groups;
use crate::packed::{pack_groups, Packing};
use crate::quant::Q8;

/// Bytes of one block of a four-row group.
const STEP: usize = 8 + 8 + 2 * 32;

/// Four rows a group, ggml's 20-byte blocks of 32 values.
const PACKING: Packing = Packing {
    rows: 4,
    block_values: 32,
    block_bytes: 20,
    step: STEP,
};

/// `data` (`n` rows of `k / 32` ggml Q4_1 blocks) in the packed layout, when
/// this CPU has the kernels for it and `n` is a multiple of four.
pub fn pack_q4_1(data: &[u8], n: usize, k: usize, threads: usize) -> Option<Vec<u8>> {
    pack_groups(data, n, k, PACKING, threads, |dst, c, src| {
        dst[2 * c..2 * c + 2].copy_from_slice(&src[0..2]); // d
        dst[8 + 2 * c..8 + 2 * c + 2].copy_from_slice(&src[2..4]); // m
        let at = 16 + 32 * (c / 2) + 16 * (c % 2);
        dst[at..at + 16].copy_from_slice(&src[4..20]);
    })
}

/// `matmul_columns` for packed Q4_1 (`n` weight rows, `k` columns), two
/// activation rows at a time (four run out of registers: measured slower).
///
/// # Safety
/// As `q8_packed::matmul_packed`, with `data` from `pack_q4_1`.
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
        matmul_groups::<Q8, 4, 2>(
            PACKING, micro::<2>, micro::<1>, data, n, k, acts, m, cols, out,
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("pack_q4_1 packs only for x86 VNNI kernels");
}

/// Group blocks to prefetch ahead when decoding (about 5 KB).
#[cfg(target_arch = "x86_64")]
const PREFETCH_STEPS: usize = 64;

/// Four packed weight rows against `R` activation rows: `[row][col]` dots.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::needless_range_loop)] // block b of every row: indices read clearer
unsafe fn micro<const R: usize>(grp: &[u8], a: [&[Q8]; R], nb: usize) -> [[f32; 4]; R] {
    use std::arch::x86_64::*;
    let zero = _mm256_setzero_si256();
    let low = _mm256_set1_epi8(0x0f);
    // Lanes 0..4 take pair row 0's scale, 4..8 row 1's.
    let pick = [
        _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1),
        _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3),
    ];
    // acc[p][h][r]: pair p, nibble half h (elements 0..16 or 16..32).
    let mut acc = [[[_mm256_setzero_ps(); R]; 2]; 2];
    let mut summs = [_mm_setzero_ps(); R];
    let base = grp.as_ptr();
    for b in 0..nb {
        let p = base.add(b * STEP);
        if R == 1 {
            let ahead = p.wrapping_add(PREFETCH_STEPS * STEP);
            _mm_prefetch::<_MM_HINT_T0>(ahead as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64) as *const i8);
        }
        let d4 = _mm_cvtph_ps(_mm_loadl_epi64(p as *const __m128i));
        let m4 = _mm_cvtph_ps(_mm_loadl_epi64(p.add(8) as *const __m128i));
        let nib = [
            _mm256_loadu_si256(p.add(16) as *const __m256i),
            _mm256_loadu_si256(p.add(48) as *const __m256i),
        ];
        let halves = [
            [
                _mm256_and_si256(nib[0], low),
                _mm256_and_si256(_mm256_srli_epi16(nib[0], 4), low),
            ],
            [
                _mm256_and_si256(nib[1], low),
                _mm256_and_si256(_mm256_srli_epi16(nib[1], 4), low),
            ],
        ];
        for r in 0..R {
            let y = a[r].get_unchecked(b);
            let q = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
            // Elements 0..16 in both lanes, then 16..32 in both.
            let ya = [
                _mm256_permute4x64_epi64::<0x44>(q),
                _mm256_permute4x64_epi64::<0xee>(q),
            ];
            // m * s per row, fused as ggml's scalar sum is.
            summs[r] = _mm_fmadd_ps(m4, _mm_set1_ps(y.s), summs[r]);
            // d_w * d_a for the four rows (one rounding each, as the scalar).
            let dd = _mm256_castps128_ps256(_mm_mul_ps(d4, _mm_set1_ps(y.d)));
            for pr in 0..2 {
                let ddp = _mm256_permutevar8x32_ps(dd, pick[pr]);
                for h in 0..2 {
                    let lanes = _mm256_dpbusd_epi32(zero, halves[pr][h], ya[h]);
                    acc[pr][h][r] = _mm256_fmadd_ps(ddp, _mm256_cvtepi32_ps(lanes), acc[pr][h][r]);
                }
            }
        }
    }
    let mut res = [[0f32; 4]; R];
    for r in 0..R {
        let mut sm = [0f32; 4];
        _mm_storeu_ps(sm.as_mut_ptr(), summs[r]);
        for pr in 0..2 {
            let (mut lo, mut hi) = ([0f32; 8], [0f32; 8]);
            _mm256_storeu_ps(lo.as_mut_ptr(), acc[pr][0][r]);
            _mm256_storeu_ps(hi.as_mut_ptr(), acc[pr][1][r]);
            for (row, at) in [(2 * pr, 0), (2 * pr + 1, 4)] {
                // ggml's lanes 0..4 are elements 0..16, lanes 4..8 16..32.
                let l = [
                    lo[at],
                    lo[at + 1],
                    lo[at + 2],
                    lo[at + 3],
                    hi[at],
                    hi[at + 1],
                    hi[at + 2],
                    hi[at + 3],
                ];
                res[r][row] = crate::quant::hsum8(&l) + sm[row];
            }
        }
    }
    res
}
