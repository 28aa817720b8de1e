//! What the weight formats re-laid for the VNNI kernels share
//! (`q4_1_packed`, `q5_0_packed`, `q8_packed`, `q4k_packed`, `q6k_packed`): groups of weight rows (one
//! per vector lane group of a kernel), each group a run of fixed-size
//! steps (one per ggml block), and the loop that runs a format's
//! micro-kernels over groups and tiles of activation rows.
use std::ops::Range;

use crate::quant::{has_vnni, ROW_TILE};

/// How a format is re-laid: `rows` weight rows per group, each ggml block
/// of `block_values` values and `block_bytes` bytes, one `step` of bytes
/// per block of the group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Packing {
    pub rows: usize,
    pub block_values: usize,
    pub block_bytes: usize,
    pub step: usize,
}

impl Packing {
    /// Blocks in a row of `k` values.
    pub fn blocks(&self, k: usize) -> usize {
        k / self.block_values
    }

    /// Bytes of an `(n, k)` matrix packed (a last partial group padded).
    pub fn bytes(&self, n: usize, k: usize) -> usize {
        n.div_ceil(self.rows) * self.blocks(k) * self.step
    }

    /// Bytes an `(n, k)` matrix is held in on this CPU: packed where
    /// `pack_groups` packs it, else ggml's own blocks.
    pub fn held_bytes(&self, n: usize, k: usize) -> usize {
        if k.is_multiple_of(self.block_values) && has_vnni() {
            self.bytes(n, k)
        } else {
            n * self.blocks(k) * self.block_bytes
        }
    }
}

/// Matrices under this many bytes are packed on the calling thread alone
/// (starting threads would cost more than it saves).
const PACK_ALONE_BYTES: usize = 1 << 20;

/// `data` (`n` rows of `k / block_values` ggml blocks) re-laid in groups
/// of `packing.rows` rows: `place(step, c, block)` writes row `c`'s block
/// into its group's step. A last group of fewer rows is padded with
/// all-zero blocks (never written out). `None` where this CPU lacks the
/// kernels or the sizes do not match. Large matrices are packed on up to
/// `threads` threads (loading waits on it: a model's every matrix passes
/// here), the user's thread count, so that a desktop app told to leave a
/// core free does so while it loads too.
pub(crate) fn pack_groups(
    data: &[u8],
    n: usize,
    k: usize,
    packing: Packing,
    threads: usize,
    place: impl Fn(&mut [u8], usize, &[u8]) + Sync,
) -> Option<Vec<u8>> {
    let Packing {
        rows,
        block_values,
        block_bytes,
        step,
    } = packing;
    let nb = packing.blocks(k);
    let fits = k.is_multiple_of(block_values) && data.len() == n * nb * block_bytes;
    if !has_vnni() || !fits {
        return None;
    }
    let zero = vec![0u8; block_bytes];
    let mut out = vec![0u8; packing.bytes(n, k)];
    // Groups `first..` into `groups` (whole groups of the output).
    let fill = |groups: &mut [u8], first: usize| {
        for (gi, group) in groups.chunks_exact_mut(nb * step).enumerate() {
            let g = first + gi;
            for (b, dst) in group.chunks_exact_mut(step).enumerate() {
                for c in 0..rows {
                    let row = rows * g + c;
                    let at = (row * nb + b) * block_bytes;
                    let src = if row < n {
                        &data[at..at + block_bytes]
                    } else {
                        &zero[..]
                    };
                    place(dst, c, src);
                }
            }
        }
    };
    let groups = n.div_ceil(rows);
    let threads = match out.len() {
        0..PACK_ALONE_BYTES => 1,
        _ => threads,
    }
    .min(groups)
    .max(1);
    let per = groups.div_ceil(threads);
    if threads == 1 {
        fill(&mut out, 0);
    } else {
        std::thread::scope(|s| {
            for (t, part) in out.chunks_mut(per * nb * step).enumerate() {
                let fill = &fill;
                s.spawn(move || fill(part, t * per));
            }
        });
    }
    Some(out)
}

/// A format's micro-kernel: one group of `G` weight rows against `R`
/// activation rows (of blocks `A`), `[row][col]` dots.
pub(crate) type Micro<A, const G: usize, const R: usize> =
    unsafe fn(&[u8], [&[A]; R], usize) -> [[f32; G]; R];

/// `matmul_columns` over packed groups of `G` rows: `many` takes `RP`
/// activation rows at a time, `one` the rest (decode). Tiles of rows
/// start at multiples of `ROW_TILE` (a multiple of every `RP`), so the
/// rows `many` takes are the first `m - m % RP`.
///
/// # Safety
/// `data` must be packed for these `n` and `k` with `packing`, and the
/// micro-kernels be that format's; `cols` must start and end on a group
/// (or end at `n`), since groups are computed whole; otherwise as
/// `matmul_columns`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul_groups<A, const G: usize, const RP: usize>(
    packing: Packing,
    many: Micro<A, G, RP>,
    one: Micro<A, G, 1>,
    data: &[u8],
    n: usize,
    k: usize,
    acts: &[A],
    m: usize,
    cols: Range<usize>,
    out: *mut f32,
) {
    debug_assert_eq!(packing.rows, G);
    debug_assert!(ROW_TILE.is_multiple_of(RP));
    let whole = cols.start.is_multiple_of(G) && (cols.end.is_multiple_of(G) || cols.end >= n);
    assert!(whole && has_vnni(), "packed weights misused");
    let (nb, step) = (packing.blocks(k), packing.step);
    let row_of = |r: usize| &acts[r * nb..(r + 1) * nb];
    for r0 in (0..m).step_by(ROW_TILE) {
        let r1 = (r0 + ROW_TILE).min(m);
        for g in cols.start / G..cols.end.min(n).div_ceil(G) {
            let grp = &data[g * nb * step..(g + 1) * nb * step];
            let mut row = r0;
            while row < r1 {
                let (sums, took) = if r1 - row >= RP {
                    let a: [&[A]; RP] = std::array::from_fn(|i| row_of(row + i));
                    // SAFETY: VNNI checked above; the kernels are the format's.
                    (unsafe { many(grp, a, nb) }, RP)
                } else {
                    let mut s = [[0f32; G]; RP];
                    // SAFETY: as above.
                    s[0] = unsafe { one(grp, [row_of(row)], nb) }[0];
                    (s, 1)
                };
                // A padded group's missing rows are not written.
                let width = G.min(n - G * g);
                for (r, rs) in sums.iter().enumerate().take(took) {
                    for (c, &v) in rs.iter().enumerate().take(width) {
                        // SAFETY: row < m and column G * g + c < n; the
                        // columns are the caller's alone.
                        unsafe { *out.add((row + r) * n + G * g + c) = v };
                    }
                }
                row += took;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::quant::testing::{activation_rows, assert_dots, weights, Matmul, Pack};
    use crate::quant::{quantize_activations, Kind};

    #[test]
    fn large_matrices_packed_on_several_threads_give_the_ggml_layouts_bits() {
        // 1.4 MB of Q8_0 (past PACK_ALONE_BYTES), the last of its 81 groups
        // of sixteen rows padded: one thread, two (41 and 40 groups) and
        // four (21, 21, 21, 18) give the same bytes, which compute ggml's.
        let (n, k) = (1290, 1024);
        assert!(n * k / 32 * 34 > super::PACK_ALONE_BYTES);
        let w = weights(Kind::Q8_0, n * k / 32, 21);
        let Some(alone) = crate::q8_packed::pack_q8_0(&w, n, k, 1) else {
            eprintln!("no AVX-512 VNNI on this CPU: packing is not tested here");
            return;
        };
        for threads in [2, 4] {
            let split = crate::q8_packed::pack_q8_0(&w, n, k, threads).expect("packs");
            assert!(split == alone, "{threads} threads pack other bytes");
        }
        let m = 2;
        let a = quantize_activations(&activation_rows(m, k), Kind::Q8_0);
        let mut out = vec![f32::NAN; m * n];
        // SAFETY: packed for (n, k); all columns; m * n outputs.
        unsafe { crate::q8_packed::matmul_packed(&alone, n, k, &a, m, 0..n, out.as_mut_ptr()) };
        assert_dots(Kind::Q8_0, &w, n, k, &a, m, &(0..n), &out, "large");
    }

    #[test]
    fn packed_tiles_give_the_ggml_layouts_bits() {
        // Q4_1's four-row groups (the sixteen-row layouts test their own).
        let formats: [(Kind, Pack, Matmul); 1] = [(
            Kind::Q4_1,
            crate::q4_1_packed::pack_q4_1,
            crate::q4_1_packed::matmul_packed,
        )];
        // Ten rows: two groups of four and a padded one of two.
        let (n, k) = (10, 96);
        for (kind, pack, matmul) in formats {
            let w = weights(kind, n * k / 32, 9);
            let Some(packed) = pack(&w, n, k, 1) else {
                eprintln!("no AVX-512 VNNI on this CPU: packed {kind:?} is not tested here");
                continue;
            };
            for m in [1, 3, 6, 70] {
                let a = quantize_activations(&activation_rows(m, k), kind);
                for cols in [0..n, 4..8, 8..10, 0..4] {
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
