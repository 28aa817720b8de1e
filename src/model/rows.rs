//! Row-wise work split over candle's CPU pool: the element-wise steps of a
//! layer (norm, RoPE, SwiGLU, activation quantization) would otherwise run
//! on one thread while the others spin, about a fifth of a prefill on two
//! cores.

/// Calls `f(row, &mut out_row)` for each of the `out.len() / n` rows of
/// `out`, rows split between the pool's threads. Each row is one call's
/// alone, so results do not depend on the split.
pub fn par_rows_mut<T: Send>(out: &mut [T], n: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    if n == 0 {
        return;
    }
    let rows = out.len() / n;
    // Waking the pool costs more than a few thousand values take alone
    // (a decode step's rows).
    if out.len() < 16 * 1024 {
        for (r, row) in out.chunks_exact_mut(n).enumerate() {
            f(r, row);
        }
        return;
    }
    let ptr = out.as_mut_ptr() as usize;
    candle_core::utils::barrier_pool().execute_chunked(rows, |range| {
        for r in range {
            // SAFETY: rows are disjoint `n`-long slices of `out`, which
            // outlives the pool call, and each row index reaches one call.
            let row = unsafe { std::slice::from_raw_parts_mut((ptr as *mut T).add(r * n), n) };
            f(r, row);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_once_with_its_index() {
        for (len, n) in [
            (0, 3),
            (3, 3),
            (3000, 3),
            (1000, 7),
            (40_000, 3),
            (40_000, 7),
        ] {
            let mut v = vec![0usize; len];
            par_rows_mut(&mut v, n, |r, row| {
                for (j, x) in row.iter_mut().enumerate() {
                    *x += r * n + j + 1;
                }
            });
            let want: Vec<usize> = (0..len)
                .map(|i| if i < len / n * n { i + 1 } else { 0 })
                .collect();
            assert_eq!(v, want, "len {len} n {n}");
        }
    }
}
