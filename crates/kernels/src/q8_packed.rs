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

#[cfg(target_arch = "x86_64")]
use crate::packed::matmul_groups;
use crate::packed::{pack_groups, Packing};
use crate::quant::Q8;

/// Bytes of one block of a four-row group.
const STEP: usize = 16 + 4 * 32;

/// Four rows a group, ggml's 34-byte blocks of 32 values.
const PACKING: Packing = Packing {
    rows: 4,
    block_values: 32,
    block_bytes: 34,
    step: STEP,
};

/// `data` (`n` rows of `k / 32` ggml Q8_0 blocks) in the packed layout, when
/// this CPU has the kernels for it and `n` is a multiple of four.
pub fn pack_q8_0(data: &[u8], n: usize, k: usize) -> Option<Vec<u8>> {
    pack_groups(data, n, k, PACKING, |dst, c, src| {
        let d = f16::from_le_bytes([src[0], src[1]]).to_f32();
        dst[4 * c..4 * c + 4].copy_from_slice(&d.to_le_bytes());
        for (o, &q) in dst[16 + 32 * c..16 + 32 * (c + 1)]
            .iter_mut()
            .zip(&src[2..])
        {
            *o = q ^ 0x80; // i8 q + 128 as u8
        }
    })
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
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract; the loop checks for VNNI.
    unsafe {
        matmul_groups::<Q8, 4, 4>(
            PACKING, micro::<4>, micro::<1>, data, n, k, acts, m, cols, out,
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("pack_q8_0 packs only for x86 VNNI kernels");
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
    crate::quant::lane_sums(&acc, &[[0.0; R]; 4])
}
