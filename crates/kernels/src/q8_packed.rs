//! Q8_0 weights laid out again at load for the AVX-512 VNNI kernels, the
//! format most files run in on the CPU (K-quants and Q5 are re-quantized to
//! it). Per group of four weight rows and per block: the four scales as f32,
//! then each row's 32 weights plus 128 as unsigned bytes. So a block costs
//! one broadcast load for its scale instead of an f16 conversion, `dpbusd`
//! takes the weights as its unsigned side with no per-block correction
//! (`sum((w + 128) a) - 128 sum(a)`, the second term once per activation
//! block), and decode streams one run of memory per four rows. The integer
//! dots are the same, so the bits are `dot_generic`'s on the ggml layout.
use std::ops::Range;

use half::f16;

use crate::quant::{has_vnni, Q8};

/// Bytes of one block of a four-row group.
const STEP: usize = 16 + 4 * 32;

/// `data` (`n` rows of `k / 32` ggml Q8_0 blocks) in the packed layout, when
/// this CPU has the kernels for it and `n` is a multiple of four.
pub fn pack_q8_0(data: &[u8], n: usize, k: usize) -> Option<Vec<u8>> {
    let nb = k / 32;
    if !has_vnni() || !n.is_multiple_of(4) || !k.is_multiple_of(32) || data.len() != n * nb * 34 {
        return None;
    }
    let mut out = vec![0u8; n / 4 * nb * STEP];
    for (g, group) in out.chunks_exact_mut(nb * STEP).enumerate() {
        for (b, dst) in group.chunks_exact_mut(STEP).enumerate() {
            for c in 0..4 {
                let src = &data[((4 * g + c) * nb + b) * 34..][..34];
                let d = f16::from_le_bytes([src[0], src[1]]).to_f32();
                dst[4 * c..4 * c + 4].copy_from_slice(&d.to_le_bytes());
                for (o, &q) in dst[16 + 32 * c..16 + 32 * (c + 1)]
                    .iter_mut()
                    .zip(&src[2..])
                {
                    *o = q ^ 0x80; // i8 q + 128 as u8
                }
            }
        }
    }
    Some(out)
}

/// `matmul_columns` for packed Q8_0 (`n` weight rows, `k` columns).
///
/// # Safety
/// `data` must come from `pack_q8_0` for these `n` and `k`; `cols` must
/// start and end on a group of four (or end at `n`), since groups are
/// computed whole; otherwise as `matmul_columns`.
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
    assert!(whole && has_vnni(), "packed Q8_0 misused");
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

/// Groups of four weight rows against tiles of activation rows, four rows
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
    let row_of = |r: usize| &acts[r * nb..(r + 1) * nb];
    for r0 in (0..m).step_by(crate::quant::ROW_TILE) {
        let r1 = (r0 + crate::quant::ROW_TILE).min(m);
        for g in groups.clone() {
            let grp = &data[g * nb * STEP..(g + 1) * nb * STEP];
            let mut row = r0;
            while row < r1 {
                let sums: ([[f32; 4]; 4], usize) = if r1 - row >= 4 {
                    let a = [
                        row_of(row),
                        row_of(row + 1),
                        row_of(row + 2),
                        row_of(row + 3),
                    ];
                    // SAFETY: VNNI (checked by the caller).
                    (unsafe { micro::<4>(grp, a, nb) }, 4)
                } else {
                    // SAFETY: as above.
                    let [one] = unsafe { micro::<1>(grp, [row_of(row)], nb) };
                    ([one, [0.0; 4], [0.0; 4], [0.0; 4]], 1)
                };
                for (r, rs) in sums.0.iter().enumerate().take(sums.1) {
                    for (c, &v) in rs.iter().enumerate() {
                        // SAFETY: row < m and column 4g + c < n; the columns
                        // are the caller's alone.
                        unsafe { *out.add((row + r) * n + 4 * g + c) = v };
                    }
                }
                row += sums.1;
            }
        }
    }
}

/// Group blocks to prefetch ahead when decoding (about 4.6 KB).
#[cfg(target_arch = "x86_64")]
const PREFETCH_STEPS: usize = 32;

/// Four packed weight rows against `R` activation rows: `[row][col]` dots.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::needless_range_loop)] // block b of every row: indices read clearer
unsafe fn micro<const R: usize>(grp: &[u8], a: [&[Q8]; R], nb: usize) -> [[f32; 4]; R] {
    use std::arch::x86_64::*;
    let zero = _mm256_setzero_si256();
    let mut acc = [[_mm256_setzero_ps(); R]; 4];
    let mut qy = [zero; R];
    let mut init = [zero; R];
    let mut yd = [_mm256_setzero_ps(); R];
    let base = grp.as_ptr();
    for b in 0..nb {
        for r in 0..R {
            let y = a[r].get_unchecked(b);
            qy[r] = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
            // -128 * (sum of each lane's four activations).
            let s = _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(-128), qy[r]);
            init[r] = _mm256_sub_epi32(zero, s);
            yd[r] = _mm256_set1_ps(y.d);
        }
        let p = base.add(b * STEP);
        if R == 1 {
            let ahead = p.wrapping_add(PREFETCH_STEPS * STEP);
            for line in [0, 64, 128] {
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line) as *const i8);
            }
        }
        for c in 0..4 {
            let d = _mm256_broadcast_ss(&*(p.add(4 * c) as *const f32));
            let wq = _mm256_loadu_si256(p.add(16 + 32 * c) as *const __m256i);
            for r in 0..R {
                let lanes = _mm256_dpbusd_epi32(init[r], wq, qy[r]);
                let dd = crate::quant::mul_ps(d, yd[r]);
                acc[c][r] = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(lanes), acc[c][r]);
            }
        }
    }
    let mut res = [[0f32; 4]; R];
    for r in 0..R {
        for c in 0..4 {
            let mut l = [0f32; 8];
            _mm256_storeu_ps(l.as_mut_ptr(), acc[c][r]);
            res[r][c] = crate::quant::hsum8(&l);
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{dot_generic, quantize_activations, Kind};

    #[test]
    fn packed_tiles_give_the_ggml_layouts_bits() {
        let (n, k) = (12, 96);
        let nb = k / 32;
        let mut w = Vec::new();
        for b in 0..n * nb {
            let d = 0.004 * (b % 7 + 1) as f32 * if b % 3 == 0 { -1.0 } else { 1.0 };
            w.extend_from_slice(&f16::from_f32(d).to_le_bytes());
            w.extend((0..32).map(|j| ((b * 37 + j * 11) % 255) as u8 ^ 0x80));
        }
        let Some(packed) = pack_q8_0(&w, n, k) else {
            eprintln!("no AVX-512 VNNI on this CPU: the packed Q8_0 path is not tested here");
            return;
        };
        assert!(
            pack_q8_0(&w[..34 * nb * 10], 10, k).is_none(),
            "10 rows do not group by 4"
        );
        for m in [1, 3, 6, 70] {
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 29 % 89) as f32 / 44.0 - 1.0) * (1.0 + (i % 7) as f32))
                .collect();
            let a = quantize_activations(&x, Kind::Q8_0);
            for cols in [0..n, 4..8, 8..13, 0..4] {
                let mut out = vec![f32::NAN; m * n];
                // SAFETY: packed for (n, k); cols start on a group; m * n outputs.
                unsafe { matmul_packed(&packed, n, k, &a, m, cols.clone(), out.as_mut_ptr()) };
                for row in 0..m {
                    for col in 0..n {
                        let got = out[row * n + col];
                        if !cols.contains(&col) {
                            assert!(got.is_nan(), "m {m} wrote column {col} for {cols:?}");
                            continue;
                        }
                        let want = dot_generic(
                            Kind::Q8_0,
                            &w[col * nb * 34..(col + 1) * nb * 34],
                            &a[row * nb..(row + 1) * nb],
                        );
                        assert_eq!(got.to_bits(), want.to_bits(), "m {m} ({row}, {col})");
                    }
                }
            }
        }
    }
}
