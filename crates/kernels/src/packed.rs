//! What the weight formats re-laid for the VNNI kernels share
//! (`q8_packed`, `q4_1_packed`): groups of four weight rows, each group a
//! run of fixed-size steps (one per 32-value block), and the loop that runs
//! a format's micro-kernels over groups and tiles of activation rows.
use std::ops::Range;

use crate::quant::{has_vnni, Q8, ROW_TILE};

/// `data` (`n` rows of `k / 32` ggml blocks of `block_bytes`) re-laid in
/// four-row groups of `step`-byte steps: `place(step, c, block)` writes
/// row `c`'s block into its group's step. `None` where this CPU lacks the
/// kernels or `n` is not a multiple of four.
pub(crate) fn pack_groups(
    data: &[u8],
    n: usize,
    k: usize,
    block_bytes: usize,
    step: usize,
    place: impl Fn(&mut [u8], usize, &[u8]),
) -> Option<Vec<u8>> {
    let nb = k / 32;
    let fits = n.is_multiple_of(4) && k.is_multiple_of(32) && data.len() == n * nb * block_bytes;
    if !has_vnni() || !fits {
        return None;
    }
    let mut out = vec![0u8; n / 4 * nb * step];
    for (g, group) in out.chunks_exact_mut(nb * step).enumerate() {
        for (b, dst) in group.chunks_exact_mut(step).enumerate() {
            for c in 0..4 {
                let at = ((4 * g + c) * nb + b) * block_bytes;
                place(dst, c, &data[at..at + block_bytes]);
            }
        }
    }
    Some(out)
}

/// A format's micro-kernel: one group against `R` activation rows,
/// `[row][col]` dots.
pub(crate) type Micro<const R: usize> = unsafe fn(&[u8], [&[Q8]; R], usize) -> [[f32; 4]; R];

/// `matmul_columns` over packed groups of `step`-byte steps: `many` takes
/// `RP` activation rows at a time, `one` the rest (decode).
///
/// # Safety
/// `data` must be packed for these `n` and `k` with this `step`, and the
/// micro-kernels be that format's; `cols` must start and end on a group of
/// four (or end at `n`), since groups are computed whole; otherwise as
/// `matmul_columns`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul_groups<const RP: usize>(
    step: usize,
    many: Micro<RP>,
    one: Micro<1>,
    data: &[u8],
    n: usize,
    k: usize,
    acts: &[Q8],
    m: usize,
    cols: Range<usize>,
    out: *mut f32,
) {
    let whole = cols.start.is_multiple_of(4) && (cols.end.is_multiple_of(4) || cols.end >= n);
    assert!(whole && has_vnni(), "packed weights misused");
    let nb = k / 32;
    let row_of = |r: usize| &acts[r * nb..(r + 1) * nb];
    for r0 in (0..m).step_by(ROW_TILE) {
        let r1 = (r0 + ROW_TILE).min(m);
        for g in cols.start / 4..cols.end.min(n).div_ceil(4) {
            let grp = &data[g * nb * step..(g + 1) * nb * step];
            let mut row = r0;
            while row < r1 {
                let (sums, took) = if r1 - row >= RP {
                    let a: [&[Q8]; RP] = std::array::from_fn(|i| row_of(row + i));
                    // SAFETY: VNNI checked above; the kernels are the format's.
                    (unsafe { many(grp, a, nb) }, RP)
                } else {
                    let mut s = [[0f32; 4]; RP];
                    // SAFETY: as above.
                    s[0] = unsafe { one(grp, [row_of(row)], nb) }[0];
                    (s, 1)
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

#[cfg(test)]
mod tests {
    use crate::quant::testing::{activation_rows, assert_dots, weights};
    use crate::quant::{quantize_activations, Kind};

    type Pack = fn(&[u8], usize, usize) -> Option<Vec<u8>>;
    type Matmul =
        unsafe fn(&[u8], usize, usize, &[crate::Q8], usize, std::ops::Range<usize>, *mut f32);

    #[test]
    fn packed_tiles_give_the_ggml_layouts_bits() {
        let formats: [(Kind, Pack, Matmul); 2] = [
            (
                Kind::Q8_0,
                crate::q8_packed::pack_q8_0,
                crate::q8_packed::matmul_packed,
            ),
            (
                Kind::Q4_1,
                crate::q4_1_packed::pack_q4_1,
                crate::q4_1_packed::matmul_packed,
            ),
        ];
        let (n, k) = (12, 96);
        for (kind, pack, matmul) in formats {
            let w = weights(kind, n * k / 32, 9);
            let Some(packed) = pack(&w, n, k) else {
                eprintln!("no AVX-512 VNNI on this CPU: packed {kind:?} is not tested here");
                continue;
            };
            let ten = 10 * k / 32 * kind.block_bytes();
            assert!(
                pack(&w[..ten], 10, k).is_none(),
                "10 rows do not group by 4"
            );
            for m in [1, 3, 6, 70] {
                let a = quantize_activations(&activation_rows(m, k), kind);
                for cols in [0..n, 4..8, 8..13, 0..4] {
                    let mut out = vec![f32::NAN; m * n];
                    // SAFETY: packed for (n, k); cols on groups; m * n outputs.
                    unsafe { matmul(&packed, n, k, &a, m, cols.clone(), out.as_mut_ptr()) };
                    assert_dots(
                        kind,
                        &w,
                        n,
                        k,
                        &a,
                        m,
                        &cols,
                        &out,
                        &format!("packed, m {m}"),
                    );
                }
            }
        }
    }
}
