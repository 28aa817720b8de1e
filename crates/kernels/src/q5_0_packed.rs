//! Q5_0 weights laid out again at load for AVX-512 VNNI, sixteen rows a
//! group (`rows16`, whose kernel this is). Q5_0 is what llama.cpp's Q4_K_M
//! falls back to for rows not a multiple of 256 values: every matrix of
//! SmolLM2 but its down projections.
//!
//! A block of a group (one step, ggml's own 22 bytes a row) holds:
//! - `d` of the sixteen rows (f16);
//! - the fifth bits as eight 64-bit masks, one per ggml lane: bit `4c + t`
//!   of lane `j`'s is row `c`'s bit of value `4j + t`;
//! - the nibbles, per four bytes of ggml's `qs`: the sixteen rows' four
//!   bytes in a row (64 bytes), so chunk `j`'s low nibbles are ggml's lane
//!   `j` (values `4j..4j + 4`) and its high nibbles lane `j + 4`.
//!
//! The kernel adds 16 where a fifth bit is set (one masked byte add) and
//! starts each lane's integer at `-16 * sum(a)` of its activations.
use std::ops::Range;

#[cfg(target_arch = "x86_64")]
use crate::packed::matmul_groups;
use crate::packed::{pack_groups, Packing};
use crate::quant::Q8;
#[cfg(target_arch = "x86_64")]
use crate::rows16::micro;

pub use crate::rows16::GROUP;
use crate::rows16::{step, D, Q5_0, Q5_0_MASKS as MASKS, Q5_0_QS as QS};

/// Sixteen rows a group, ggml's 22-byte blocks of 32 values.
const PACKING: Packing = Packing {
    rows: GROUP,
    block_values: 32,
    block_bytes: 22,
    step: step(Q5_0),
};

/// Bytes an `(n, k)` Q5_0 matrix is held in on this CPU: packed where
/// `pack_q5_0` packs it, else ggml's own blocks.
pub fn held_bytes(n: usize, k: usize) -> usize {
    PACKING.held_bytes(n, k)
}

/// `data` (`n` rows of `k / 32` ggml Q5_0 blocks) in the packed layout,
/// when this CPU has the kernels for it.
pub fn pack_q5_0(data: &[u8], n: usize, k: usize, threads: usize) -> Option<Vec<u8>> {
    pack_groups(data, n, k, PACKING, threads, |dst, c, src| {
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
            PACKING,
            micro::<Q5_0, 2>,
            micro::<Q5_0, 1>,
            data,
            n,
            k,
            acts,
            m,
            cols,
            out,
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("pack_q5_0 packs only for x86 VNNI kernels");
}
