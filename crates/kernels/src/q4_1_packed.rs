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

use crate::quant::{has_vnni, Q8};

/// Bytes of one block of a four-row group.
const STEP: usize = 8 + 8 + 2 * 32;

/// `data` (`n` rows of `k / 32` ggml Q4_1 blocks) in the packed layout, when
/// this CPU has the kernels for it and `n` is a multiple of four.
pub fn pack_q4_1(data: &[u8], n: usize, k: usize) -> Option<Vec<u8>> {
    let nb = k / 32;
    if !has_vnni() || !n.is_multiple_of(4) || !k.is_multiple_of(32) || data.len() != n * nb * 20 {
        return None;
    }
    let mut out = vec![0u8; n / 4 * nb * STEP];
    for (g, group) in out.chunks_exact_mut(nb * STEP).enumerate() {
        for (b, dst) in group.chunks_exact_mut(STEP).enumerate() {
            for c in 0..4 {
                let src = &data[((4 * g + c) * nb + b) * 20..][..20];
                dst[2 * c..2 * c + 2].copy_from_slice(&src[0..2]); // d
                dst[8 + 2 * c..8 + 2 * c + 2].copy_from_slice(&src[2..4]); // m
                let at = 16 + 32 * (c / 2) + 16 * (c % 2);
                dst[at..at + 16].copy_from_slice(&src[4..20]);
            }
        }
    }
    Some(out)
}

/// `matmul_columns` for packed Q4_1 (`n` weight rows, `k` columns).
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
    let whole = cols.start.is_multiple_of(4) && (cols.end.is_multiple_of(4) || cols.end >= n);
    assert!(whole && has_vnni(), "packed Q4_1 misused");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: VNNI checked; the rest is the caller's contract.
    unsafe {
        tiles(
            data,
            n,
            k / 32,
            acts,
            m,
            cols.start / 4..cols.end.min(n).div_ceil(4),
            out,
        )
    };
}

/// Groups of four weight rows against tiles of activation rows, `RP` rows
/// at a time, then one at a time for the rest (decode).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tiles(
    data: &[u8],
    n: usize,
    nb: usize,
    acts: &[Q8],
    m: usize,
    groups: Range<usize>,
    out: *mut f32,
) {
    const RP: usize = 2;
    let row_of = |r: usize| &acts[r * nb..(r + 1) * nb];
    for r0 in (0..m).step_by(crate::quant::ROW_TILE) {
        let r1 = (r0 + crate::quant::ROW_TILE).min(m);
        for g in groups.clone() {
            let grp = &data[g * nb * STEP..(g + 1) * nb * STEP];
            let mut row = r0;
            while row < r1 {
                let (sums, took): ([[f32; 4]; RP], usize) = if r1 - row >= RP {
                    let a: [&[Q8]; RP] = [row_of(row), row_of(row + 1)];
                    // SAFETY: VNNI (checked by the caller).
                    (unsafe { micro::<RP>(grp, a, nb) }, RP)
                } else {
                    // SAFETY: as above.
                    let [one] = unsafe { micro::<1>(grp, [row_of(row)], nb) };
                    ([one, [0.0; 4]], 1)
                };
                for (r, rs) in sums.iter().enumerate().take(took) {
                    for (c, &v) in rs.iter().enumerate() {
                        // SAFETY: row < m and column 4g + c < n; the columns
                        // are the caller's alone.
                        unsafe { *out.add((row + r) * n + 4 * g + c) = v };
                    }
                }
                row += took;
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{dot_generic, quantize_activations, Kind};
    use half::f16;

    #[test]
    fn packed_tiles_give_the_ggml_layouts_bits() {
        let (n, k) = (12, 96);
        let nb = k / 32;
        let mut w = Vec::new();
        for b in 0..n * nb {
            let d = 0.004 * (b % 7 + 1) as f32 * if b % 3 == 0 { -1.0 } else { 1.0 };
            w.extend_from_slice(&f16::from_f32(d).to_le_bytes());
            w.extend_from_slice(&f16::from_f32(-0.03 * (b % 5) as f32).to_le_bytes());
            w.extend((0..16).map(|j| ((b * 37 + j * 11) % 256) as u8));
        }
        let Some(packed) = pack_q4_1(&w, n, k) else {
            eprintln!("no AVX-512 VNNI on this CPU: the packed Q4_1 path is not tested here");
            return;
        };
        for m in [1, 3, 6, 70] {
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 29 % 89) as f32 / 44.0 - 1.0) * (1.0 + (i % 7) as f32))
                .collect();
            let a = quantize_activations(&x, Kind::Q4_1);
            for cols in [0..n, 4..8, 8..13, 0..4] {
                let mut out = vec![f32::NAN; m * n];
                // SAFETY: packed for (n, k); cols on groups; m * n outputs.
                unsafe { matmul_packed(&packed, n, k, &a, m, cols.clone(), out.as_mut_ptr()) };
                for row in 0..m {
                    for col in 0..n {
                        let got = out[row * n + col];
                        if !cols.contains(&col) {
                            assert!(got.is_nan(), "m {m} wrote column {col} for {cols:?}");
                            continue;
                        }
                        let want = dot_generic(
                            Kind::Q4_1,
                            &w[col * nb * 20..(col + 1) * nb * 20],
                            &a[row * nb..(row + 1) * nb],
                        );
                        assert_eq!(got.to_bits(), want.to_bits(), "m {m} ({row}, {col})");
                    }
                }
            }
        }
    }
}
