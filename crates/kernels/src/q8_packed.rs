//! Q8_0 weights laid out again at load for AVX-512 VNNI, sixteen rows a
//! group (`rows16`, whose kernel this is): the format most files run in on
//! the CPU (formats without a kernel of ours are re-quantized to it).
//!
//! A block of a group (one step, ggml's own 34 bytes a row) holds `d` of
//! the sixteen rows (f16), then per ggml lane (four values) the sixteen
//! rows' four bytes in a row (64 bytes), each `q + 128` as an unsigned
//! byte, so `vpdpbusd` takes the weights as its unsigned side as they are;
//! each lane's integer starts at `-128 * sum(a)` of its four activations.
use std::ops::Range;

#[cfg(target_arch = "x86_64")]
use crate::packed::matmul_groups;
use crate::packed::{pack_groups, Packing};
use crate::quant::Q8;
#[cfg(target_arch = "x86_64")]
use crate::rows16::micro;
pub use crate::rows16::GROUP;
use crate::rows16::{step, D, Q8_0, WEIGHTS};

/// Sixteen rows a group, ggml's 34-byte blocks of 32 values.
const PACKING: Packing = Packing {
    rows: GROUP,
    block_values: 32,
    block_bytes: 34,
    step: step(Q8_0),
};

/// Bytes an `(n, k)` Q8_0 matrix is held in on this CPU: packed where
/// `pack_q8_0` packs it, else ggml's own blocks.
pub fn held_bytes(n: usize, k: usize) -> usize {
    PACKING.held_bytes(n, k)
}

/// `data` (`n` rows of `k / 32` ggml Q8_0 blocks) in the packed layout,
/// when this CPU has the kernels for it.
pub fn pack_q8_0(data: &[u8], n: usize, k: usize, threads: usize) -> Option<Vec<u8>> {
    pack_groups(data, n, k, PACKING, threads, |dst, c, src| {
        dst[D + 2 * c..D + 2 * c + 2].copy_from_slice(&src[0..2]);
        for (lane, four) in src[2..34].chunks_exact(4).enumerate() {
            let at = WEIGHTS + 64 * lane + 4 * c;
            for (o, &q) in dst[at..at + 4].iter_mut().zip(four) {
                *o = q ^ 0x80; // i8 q + 128 as u8
            }
        }
    })
}

/// `matmul_columns` for packed Q8_0 (`n` weight rows, `k` columns), two
/// activation rows at a time (eight lanes of sums each: sixteen registers).
///
/// # Safety
/// `data` must come from `pack_q8_0` for these `n` and `k`; `cols` must
/// start and end on a group of sixteen (or end at `n`), since groups are
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
        matmul_groups::<Q8, GROUP, 2>(
            PACKING,
            micro::<Q8_0, 2>,
            micro::<Q8_0, 1>,
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
    unreachable!("pack_q8_0 packs only for x86 VNNI kernels");
}
