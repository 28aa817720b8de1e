//! Q4_0 / Q4_1 / Q5_0 / Q8_0 weight blocks against Q8 activation blocks, quantized
//! and summed exactly as llama.cpp (ggml, x86) does: `d = max/127`,
//! `id = 127/max`, round half to even, Q8_1 `s = f16(d * sum)`, block terms
//! accumulated in order.
use std::ops::Range;

use half::f16;

/// The weight formats these kernels handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Q4_0,
    Q4_1,
    Q5_0,
    Q8_0,
}

impl Kind {
    /// Bytes of one 32-weight block.
    pub fn block_bytes(self) -> usize {
        match self {
            Kind::Q4_0 => 18,
            Kind::Q4_1 => 20,
            Kind::Q5_0 => 22,
            Kind::Q8_0 => 34,
        }
    }

    /// Q4_1 pairs with Q8_1 activations (which carry `s`), the others with Q8_0.
    pub fn activations_carry_sum(self) -> bool {
        self == Kind::Q4_1
    }
}

/// Quantize `x` (a whole number of 32-value blocks) for a weight of `kind`.
pub fn quantize_activations(x: &[f32], kind: Kind) -> Vec<Q8> {
    let mut out = vec![Q8::ZERO; x.len() / 32];
    quantize_activations_into(x, kind, &mut out);
    out
}

/// `quantize_activations` into `out` (`x.len() / 32` blocks), so callers can
/// split rows between threads.
pub fn quantize_activations_into(x: &[f32], kind: Kind, out: &mut [Q8]) {
    let with_s = kind.activations_carry_sum();
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (which includes SSE4.1's `roundps`).
        return unsafe { quantize_avx2(x, with_s, out) };
    }
    for (b, o) in x.chunks_exact(32).zip(out) {
        *o = quantize_q8(b, with_s);
    }
}

/// `quantize_q8` in AVX2 as ggml's x86 `quantize_row_q8_*` does it: the
/// largest magnitude by vector max (exact in any order), `x * id` rounded
/// half to even by `roundps`, the integers summed for `s`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn quantize_avx2(x: &[f32], with_s: bool, out: &mut [Q8]) {
    use std::arch::x86_64::*;
    let sign = _mm256_set1_ps(-0.0);
    for (b, o) in x.chunks_exact(32).zip(out) {
        let p = b.as_ptr();
        let v = [
            _mm256_loadu_ps(p),
            _mm256_loadu_ps(p.add(8)),
            _mm256_loadu_ps(p.add(16)),
            _mm256_loadu_ps(p.add(24)),
        ];
        let mut m = _mm256_andnot_ps(sign, v[0]);
        for vi in &v[1..] {
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, *vi));
        }
        let mut l = [0f32; 8];
        _mm256_storeu_ps(l.as_mut_ptr(), m);
        let max = l.iter().fold(0f32, |a, &b| a.max(b));
        let d = max / 127.0;
        let id = _mm256_set1_ps(if max != 0.0 { 127.0 / max } else { 0.0 });
        let mut q = [_mm256_setzero_si256(); 4];
        for (qi, vi) in q.iter_mut().zip(&v) {
            let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                _mm256_mul_ps(*vi, id),
            );
            *qi = _mm256_cvtps_epi32(r);
        }
        let s = if with_s {
            let t = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            let mut li = [0i32; 8];
            _mm256_storeu_si256(li.as_mut_ptr() as *mut __m256i, t);
            f16::from_f32(d * li.iter().sum::<i32>() as f32).to_f32()
        } else {
            0.0
        };
        // Narrow to bytes; the packs interleave 128-bit halves, undone by
        // the permute.
        let w = _mm256_packs_epi16(
            _mm256_packs_epi32(q[0], q[1]),
            _mm256_packs_epi32(q[2], q[3]),
        );
        let w = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        let mut qs = [0i8; 32];
        _mm256_storeu_si256(qs.as_mut_ptr() as *mut __m256i, w);
        *o = Q8 {
            d: f16::from_f32(d).to_f32(),
            s,
            qs,
        };
    }
}

/// `out[row * n + col] = dot(weight row col, activation row row)` for every
/// `col` in `cols` and every one of the `m` activation rows. `data` holds the
/// `n` weight rows of `k / 32` blocks each; `acts` the `m` rows of `k / 32`
/// activation blocks.
///
/// # Safety
/// `out` must point to `m * n` writable `f32`s, and no one else may write
/// the columns in `cols` while this runs (callers split columns between
/// threads).
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul_columns(
    kind: Kind,
    data: &[u8],
    n: usize,
    k: usize,
    acts: &[Q8],
    m: usize,
    cols: Range<usize>,
    out: *mut f32,
) {
    let path = if has_vnni() {
        Path::Vnni
    } else if has_avx2() {
        Path::Avx2
    } else {
        Path::Plain
    };
    // SAFETY: the path is one this CPU runs; the rest is the contract.
    unsafe { matmul_columns_on(path, kind, data, n, k, acts, m, cols, out) }
}

/// One weight row `w` (`a.len()` blocks of `kind`) against one activation
/// row: `dot_generic`'s bits, on AVX2 where the CPU has it.
pub fn dot(kind: Kind, w: &[u8], a: &[Q8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2/FMA/F16C checked; one row of a.len() blocks each.
        return unsafe { micro_any::<1, 1>(kind, [w], [a], a.len()) }[0][0];
    }
    dot_generic(kind, w, a)
}

/// One weight row `w` against `R` activation rows: each `dot(kind, w, a[r])`,
/// bit for bit, with the weight blocks unpacked once for all `R`.
pub fn dots<const R: usize>(kind: Kind, w: &[u8], a: [&[Q8]; R]) -> [f32; R] {
    let nb = a[0].len();
    debug_assert!(a.iter().all(|r| r.len() == nb));
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2/FMA/F16C checked; R rows of nb blocks each.
        return unsafe { micro_any::<R, 1>(kind, [w], a, nb) }.map(|[v]| v);
    }
    a.map(|a| dot_generic(kind, w, a))
}

/// Which loop runs the dots: all give the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Plain,
    Avx2,
    Vnni,
}

/// `matmul_columns` on a chosen path (tests pin each one).
#[allow(clippy::too_many_arguments)]
unsafe fn matmul_columns_on(
    path: Path,
    kind: Kind,
    data: &[u8],
    n: usize,
    k: usize,
    acts: &[Q8],
    m: usize,
    cols: Range<usize>,
    out: *mut f32,
) {
    let nb = k / 32;
    let row_bytes = nb * kind.block_bytes();
    let cols = cols.start..cols.end.min(n);
    #[cfg(target_arch = "x86_64")]
    match path {
        // SAFETY (both): the caller checked the CPU; the rest is the contract.
        Path::Vnni => return unsafe { tiles_avx2::<4>(kind, data, n, nb, acts, m, cols, out) },
        Path::Avx2 => return unsafe { tiles_avx2::<2>(kind, data, n, nb, acts, m, cols, out) },
        Path::Plain => {}
    }
    let _ = path;
    for col in cols {
        let w = &data[col * row_bytes..(col + 1) * row_bytes];
        for row in 0..m {
            let a = &acts[row * nb..(row + 1) * nb];
            // SAFETY: in bounds (row < m, col < n) and ours alone (the contract).
            unsafe { *out.add(row * n + col) = dot_generic(kind, w, a) };
        }
    }
}

/// Weight blocks to prefetch ahead when decoding (one activation row):
/// measured on SmolLM2 Q4_1 decode, 8: 90, 32: 107, 128: 128, 512: 90 tok/s.
#[cfg(target_arch = "x86_64")]
const PREFETCH: usize = 128;

/// Activation rows per tile: they stay in L2 while the weight columns pass.
#[cfg(target_arch = "x86_64")]
pub(crate) const ROW_TILE: usize = 64;

/// `matmul_columns` on AVX2: tiles of activation rows, and inside a tile
/// `PC` weight columns against four activation rows at once, so each weight
/// block is unpacked once for `4 * PC` dot products (`PC` is 2 with 16
/// vector registers, 4 with AVX-512's 32). Every output still sums its
/// blocks in order in its own eight lanes: the same bits as `dot_generic`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::too_many_arguments)]
unsafe fn tiles_avx2<const PC: usize>(
    kind: Kind,
    data: &[u8],
    n: usize,
    nb: usize,
    acts: &[Q8],
    m: usize,
    cols: Range<usize>,
    out: *mut f32,
) {
    let row_bytes = nb * kind.block_bytes();
    let col_of = |c: usize| &data[c * row_bytes..(c + 1) * row_bytes];
    let row_of = |r: usize| &acts[r * nb..(r + 1) * nb];
    let put = |r: usize, c: usize, v: f32| {
        // SAFETY: r < m and c < n, a column of ours (the contract).
        unsafe { *out.add(r * n + c) = v };
    };
    // Missing columns of a partial batch repeat its last one (not stored).
    let batch = |col: usize, take: usize| -> [&[u8]; PC] {
        std::array::from_fn(|c| col_of(col + c.min(take - 1)))
    };
    for r0 in (0..m).step_by(ROW_TILE) {
        let r1 = (r0 + ROW_TILE).min(m);
        let mut col = cols.start;
        // Batches: PC weight columns x 4 activation rows; decode (one row)
        // takes 4 columns at a time instead.
        let step = if r1 - r0 >= 4 { PC } else { 4 };
        while col < cols.end {
            let nc = (cols.end - col).min(step);
            let w = batch(col, nc.min(PC));
            let mut row = r0;
            while row < r1 {
                if r1 - row >= 4 {
                    let a = [
                        row_of(row),
                        row_of(row + 1),
                        row_of(row + 2),
                        row_of(row + 3),
                    ];
                    let sums = if PC == 4 {
                        micro_vnni_any::<4, PC>(kind, w, a, nb)
                    } else {
                        micro_any::<4, PC>(kind, w, a, nb)
                    };
                    for (r, rs) in sums.iter().enumerate() {
                        for (c, &v) in rs.iter().enumerate().take(nc.min(PC)) {
                            put(row + r, col + c, v);
                        }
                    }
                    row += 4;
                } else {
                    let a = [row_of(row)];
                    let mut c = 0;
                    while c < nc {
                        let take = (nc - c).min(4);
                        let w: [&[u8]; 4] =
                            std::array::from_fn(|i| col_of(col + c + i.min(take - 1)));
                        let [sums] = if PC == 4 {
                            micro_vnni_any::<1, 4>(kind, w, a, nb)
                        } else {
                            micro_any::<1, 4>(kind, w, a, nb)
                        };
                        for (cc, &v) in sums.iter().enumerate().take(take) {
                            put(row, col + c + cc, v);
                        }
                        c += take;
                    }
                    row += 1;
                }
            }
            col += nc.min(step);
        }
    }
}

/// `micro` for a run-time `kind`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn micro_any<const R: usize, const C: usize>(
    kind: Kind,
    w: [&[u8]; C],
    a: [&[Q8]; R],
    nb: usize,
) -> [[f32; C]; R] {
    match kind {
        Kind::Q4_0 => micro::<0, R, C>(w, a, nb),
        Kind::Q4_1 => micro::<1, R, C>(w, a, nb),
        Kind::Q8_0 => micro::<2, R, C>(w, a, nb),
        Kind::Q5_0 => micro::<3, R, C>(w, a, nb),
    }
}

/// `micro_vnni` for a run-time `kind`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn micro_vnni_any<const R: usize, const C: usize>(
    kind: Kind,
    w: [&[u8]; C],
    a: [&[Q8]; R],
    nb: usize,
) -> [[f32; C]; R] {
    // SAFETY: only the VNNI path (`has_vnni`) calls this.
    unsafe {
        match kind {
            Kind::Q4_0 => micro_vnni::<0, R, C>(w, a, nb),
            Kind::Q4_1 => micro_vnni::<1, R, C>(w, a, nb),
            Kind::Q8_0 => micro_vnni::<2, R, C>(w, a, nb),
            Kind::Q5_0 => micro_vnni::<3, R, C>(w, a, nb),
        }
    }
}

/// `C` weight rows `w` against `R` activation rows `a`: `[row][col]` dots.
/// `K`: 0 = Q4_0, 1 = Q4_1, 2 = Q8_0, 3 = Q5_0 (a constant so each kind compiles to
/// its own loop). No closures inside: they would lose the target features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::needless_range_loop)] // block b of every row: indices read clearer
unsafe fn micro<const K: u8, const R: usize, const C: usize>(
    w: [&[u8]; C],
    a: [&[Q8]; R],
    nb: usize,
) -> [[f32; C]; R] {
    use std::arch::x86_64::*;
    let bb = [18, 20, 34, 22][K as usize];
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[_mm256_setzero_ps(); R]; C];
    let mut summs = [[0f32; R]; C];
    let mut qy = [_mm256_setzero_si256(); R];
    let mut yd = [0f32; R];
    let mut ys = [0f32; R];
    for b in 0..nb {
        for r in 0..R {
            let y = a[r].get_unchecked(b);
            qy[r] = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
            yd[r] = y.d;
            ys[r] = y.s;
        }
        for c in 0..C {
            let blk = w[c].as_ptr().add(b * bb);
            if R == 1 {
                // Decode streams each weight once: fetch a few blocks ahead
                // (past the row's end only touches the next row's bytes).
                _mm_prefetch::<_MM_HINT_T0>(blk.wrapping_add(PREFETCH * bb) as *const i8);
            }
            let d = half_to_f32(blk);
            let qx = match K {
                0 => _mm256_sub_epi8(nibbles_ptr(blk.add(2)), _mm256_set1_epi8(8)),
                1 => nibbles_ptr(blk.add(4)),
                // The fifth bit clear: the value less 16 (ggml sets 0xF0).
                3 => _mm256_or_si256(
                    nibbles_ptr(blk.add(6)),
                    _mm256_andnot_si256(bytes_from_bits(blk.add(2)), _mm256_set1_epi8(-16)),
                ),
                _ => _mm256_loadu_si256(blk.add(2) as *const __m256i),
            };
            if K == 1 {
                let mw = half_to_f32(blk.add(2));
                for r in 0..R {
                    summs[c][r] = mw.mul_add(ys[r], summs[c][r]);
                }
            }
            // Unsigned x signed bytes for `maddubs`: Q4_1's nibbles are
            // already unsigned; signed kinds move the sign onto the other side.
            let ux = if K == 1 { qx } else { _mm256_sign_epi8(qx, qx) };
            for r in 0..R {
                let sy = if K == 1 {
                    qy[r]
                } else {
                    _mm256_sign_epi8(qy[r], qx)
                };
                let lanes = _mm256_madd_epi16(_mm256_maddubs_epi16(ux, sy), ones);
                let dd = _mm256_set1_ps(d * yd[r]);
                acc[c][r] = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(lanes), acc[c][r]);
            }
        }
    }
    lane_sums(&acc, &summs)
}

/// `micro` with AVX-512 VNNI: one `dpbusd` per block and pair (unsigned x
/// signed bytes summed in fours into eight int32 lanes: the same integers as
/// `maddubs` + `madd`, so the same bits). Q4_1 nibbles are the unsigned side
/// as they are; Q4_0 subtracts `8 * sum(a)` and Q8_0 makes the activations
/// unsigned (`a + 128`) and subtracts `128 * sum(w)`, both as `dpbusd`'s
/// starting value. The 32 vector registers hold a 4 x 4 tile.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::needless_range_loop)] // block b of every row: indices read clearer
unsafe fn micro_vnni<const K: u8, const R: usize, const C: usize>(
    w: [&[u8]; C],
    a: [&[Q8]; R],
    nb: usize,
) -> [[f32; C]; R] {
    use std::arch::x86_64::*;
    let bb = [18, 20, 34, 22][K as usize];
    let zero = _mm256_setzero_si256();
    let mut acc = [[_mm256_setzero_ps(); R]; C];
    let mut summs = [[0f32; R]; C];
    let mut qy = [zero; R];
    let mut init = [zero; R];
    let mut yd = [_mm256_setzero_ps(); R];
    let mut ys = [0f32; R];
    for b in 0..nb {
        for r in 0..R {
            let y = a[r].get_unchecked(b);
            let q = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
            qy[r] = match K {
                2 => _mm256_xor_si256(q, _mm256_set1_epi8(-128)),
                _ => q,
            };
            if K == 0 || K == 3 {
                // The unsigned side's offset: 8 (Q4_0) or 16 (Q5_0) * sum(a).
                let off = _mm256_set1_epi8(if K == 0 { 8 } else { 16 });
                init[r] = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, off, q));
            }
            // The scale product is one vector multiply per pair.
            yd[r] = _mm256_set1_ps(y.d);
            ys[r] = y.s;
        }
        for c in 0..C {
            let blk = w[c].as_ptr().add(b * bb);
            if R == 1 {
                _mm_prefetch::<_MM_HINT_T0>(blk.wrapping_add(PREFETCH * bb) as *const i8);
            }
            let d = _mm256_set1_ps(half_to_f32(blk));
            if K == 1 {
                let mw = half_to_f32(blk.add(2));
                for r in 0..R {
                    summs[c][r] = mw.mul_add(ys[r], summs[c][r]);
                }
            }
            let qx = match K {
                0 => nibbles_ptr(blk.add(2)),
                1 => nibbles_ptr(blk.add(4)),
                3 => _mm256_or_si256(
                    nibbles_ptr(blk.add(6)),
                    _mm256_and_si256(bytes_from_bits(blk.add(2)), _mm256_set1_epi8(16)),
                ),
                _ => _mm256_loadu_si256(blk.add(2) as *const __m256i),
            };
            let wneg = if K == 2 {
                _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(-128), qx))
            } else {
                zero
            };
            for r in 0..R {
                let lanes = match K {
                    2 => _mm256_dpbusd_epi32(wneg, qy[r], qx),
                    _ => _mm256_dpbusd_epi32(init[r], qx, qy[r]),
                };
                let dd = mul_ps(d, yd[r]);
                acc[c][r] = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(lanes), acc[c][r]);
            }
        }
    }
    lane_sums(&acc, &summs)
}

/// Each output's eight lanes summed as `hsum_float_8`, plus its separate
/// `m * s` sum (zero but for Q4_1), as `dot_generic` ends: `[row][col]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
pub(crate) unsafe fn lane_sums<const R: usize, const C: usize>(
    acc: &[[std::arch::x86_64::__m256; R]; C],
    summs: &[[f32; R]; C],
) -> [[f32; C]; R] {
    let mut res = [[0f32; C]; R];
    for r in 0..R {
        for c in 0..C {
            let mut l = [0f32; 8];
            std::arch::x86_64::_mm256_storeu_ps(l.as_mut_ptr(), acc[c][r]);
            res[r][c] = hsum8(&l) + summs[c][r];
        }
    }
    res
}

/// `a * b` as one `vmulps`. Written as `_mm256_mul_ps` of two broadcasts,
/// LLVM turns it into a scalar multiply and a broadcast: two vector-unit
/// operations per block and pair instead of one, which cost a fifth of the
/// VNNI tiles' time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
pub(crate) unsafe fn mul_ps(
    a: std::arch::x86_64::__m256,
    b: std::arch::x86_64::__m256,
) -> std::arch::x86_64::__m256 {
    let out;
    // SAFETY: a register-only AVX multiply (the caller runs with AVX).
    unsafe {
        std::arch::asm!(
            "vmulps {o}, {a}, {b}",
            o = lateout(ymm_reg) out,
            a = in(ymm_reg) a,
            b = in(ymm_reg) b,
            options(pure, nomem, nostack),
        )
    };
    out
}

/// An f16 stored little-endian at `p`, widened with F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
#[inline]
unsafe fn half_to_f32(p: *const u8) -> f32 {
    use std::arch::x86_64::*;
    let bits = u16::from_le_bytes([*p, *p.add(1)]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// 16 bytes of packed nibbles at `p` as 32 bytes: low nibbles, then high.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn nibbles_ptr(p: *const u8) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    let lo = _mm_loadu_si128(p as *const __m128i);
    let hi = _mm_srli_epi16(lo, 4);
    _mm256_and_si256(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(0x0f))
}

/// The 32 bits at `p` as 32 bytes, 0xFF where the bit is set (ggml's
/// `bytes_from_bits_32`: bit `j` is byte `j`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn bytes_from_bits(p: *const u8) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    let x = i32::from_le_bytes([*p, *p.add(1), *p.add(2), *p.add(3)]);
    let spread = _mm256_set_epi64x(
        0x0303_0303_0303_0303,
        0x0202_0202_0202_0202,
        0x0101_0101_0101_0101,
        0,
    );
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x), spread);
    let bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe));
    _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
}

/// One activation block: ggml's `block_q8_1` (`s` unused for Q8_0).
#[derive(Clone, Copy)]
pub struct Q8 {
    pub d: f32,
    pub s: f32,
    pub qs: [i8; 32],
}

impl Q8 {
    /// An all-zero block (buffers to quantize into).
    pub const ZERO: Q8 = Q8 {
        d: 0.0,
        s: 0.0,
        qs: [0; 32],
    };
}

/// ggml's x86 `quantize_row_q8_1` / `quantize_row_q8_0` for one block.
#[inline(always)]
pub fn quantize_q8(x: &[f32], with_s: bool) -> Q8 {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = max / 127.0;
    let id = if max != 0.0 { 127.0 / max } else { 0.0 };
    let mut qs = [0i8; 32];
    let mut sum = 0i32;
    for (q, &v) in qs.iter_mut().zip(x) {
        let r = (v * id).round_ties_even() as i32;
        *q = r as i8;
        sum += r;
    }
    let s = if with_s {
        f16::from_f32(d * sum as f32).to_f32()
    } else {
        0.0
    };
    Q8 {
        d: f16::from_f32(d).to_f32(),
        s,
        qs,
    }
}

/// AVX-512 with VNNI (and the 256-bit forms, VL): the 4 x 4 `dpbusd` tiles.
pub fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        has_avx2()
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `hsum_float_8`: the two 128-bit halves added, then pairs, then the pair.
#[inline(always)]
pub(crate) fn hsum8(l: &[f32; 8]) -> f32 {
    let r = [l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]];
    (r[0] + r[2]) + (r[1] + r[3])
}

/// ggml's x86 AVX2 `ggml_vec_dot_*` (and llamafile's tinyBLAS, which sums
/// the same way) in plain Rust: per block, eight f32 lanes each take the
/// integer dot of four consecutive weights, scaled by `d_w * d_x` with one
/// fused multiply-add; the lanes are summed pairwise at the end
/// (`hsum_float_8`); Q4_1's `m_w * s_x` terms go to a separate fused sum.
/// Any other order rounds differently and flips greedy near-ties. The
/// reference that pins `micro`, and the path on CPUs without AVX2.
pub(crate) fn dot_generic(kind: Kind, w: &[u8], a: &[Q8]) -> f32 {
    let bb = kind.block_bytes();
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    let mut qx = [0i32; 32];
    for (blk, x) in w.chunks_exact(bb).zip(a) {
        let d = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
        match kind {
            Kind::Q8_0 => {
                for (q, &b) in qx.iter_mut().zip(&blk[2..34]) {
                    *q = b as i8 as i32;
                }
            }
            Kind::Q4_0 => unpack_nibbles(&blk[2..18], 8, &mut qx),
            Kind::Q5_0 => {
                unpack_nibbles(&blk[6..22], 16, &mut qx);
                let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
                for (j, q) in qx.iter_mut().enumerate() {
                    *q += (((qh >> j) & 1) << 4) as i32;
                }
            }
            Kind::Q4_1 => {
                let m = f16::from_le_bytes([blk[2], blk[3]]).to_f32();
                summs = m.mul_add(x.s, summs);
                unpack_nibbles(&blk[4..20], 0, &mut qx);
            }
        }
        let dd = d * x.d;
        for (lane, a) in acc.iter_mut().enumerate() {
            let r = 4 * lane..4 * lane + 4;
            let s: i32 = qx[r.clone()]
                .iter()
                .zip(&x.qs[r])
                .map(|(&q, &y)| q * y as i32)
                .sum();
            *a = dd.mul_add(s as f32, *a);
        }
    }
    hsum8(&acc) + summs
}

/// Low nibbles are elements 0..16, high nibbles 16..32, less `bias`.
fn unpack_nibbles(qs: &[u8], bias: i32, out: &mut [i32; 32]) {
    for (j, &b) in qs.iter().enumerate() {
        out[j] = (b & 0x0f) as i32 - bias;
        out[j + 16] = (b >> 4) as i32 - bias;
    }
}

/// Weights, activations and the check that every fast path's dots are
/// `dot_generic`'s, for the kernel tests here and in `packed`.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// `blocks` weight blocks of `kind` with varied scales, mins and values.
    pub fn weights(kind: Kind, blocks: usize, seed: u32) -> Vec<u8> {
        let mut r = seed;
        let mut next = move || {
            r = r.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (r >> 8) as u8
        };
        let mut w = Vec::new();
        for b in 0..blocks {
            let d = 0.003 * (b % 7 + 1) as f32 * if b % 3 == 0 { -1.0 } else { 1.0 };
            w.extend_from_slice(&f16::from_f32(d).to_le_bytes());
            if kind == Kind::Q4_1 {
                w.extend_from_slice(&f16::from_f32(-0.02 * (b % 5) as f32).to_le_bytes());
            }
            let n = match kind {
                Kind::Q8_0 => 32,
                Kind::Q5_0 => 20, // qh, then the nibbles
                _ => 16,
            };
            // Q8_0 bytes stay in ggml's range -127..=127.
            w.extend((0..n).map(|_| match next() {
                128 => 129,
                v => v,
            }));
        }
        w
    }

    /// `m` rows of `k` activations, varied in sign and scale.
    pub fn activation_rows(m: usize, k: usize) -> Vec<f32> {
        (0..m * k)
            .map(|i| ((i * 29 % 89) as f32 / 44.0 - 1.0) * (1.0 + (i % 7) as f32))
            .collect()
    }

    /// A packed layout's pack and matmul.
    pub type Pack = fn(&[u8], usize, usize, usize) -> Option<Vec<u8>>;
    pub type Matmul = unsafe fn(&[u8], usize, usize, &[Q8], usize, Range<usize>, *mut f32);

    /// `w` (`n x k` of `kind`) packed by `pack` and run by `matmul` gives
    /// `dot_generic`'s bits for `m` activation rows of `x` (`m * k` values)
    /// over each of `cols`; false where this CPU does not pack it.
    #[allow(clippy::too_many_arguments)]
    pub fn packed_gives_the_mirrors_bits(
        kind: Kind,
        pack: Pack,
        matmul: Matmul,
        w: &[u8],
        n: usize,
        k: usize,
        x: &[f32],
        m: usize,
        cols: &[Range<usize>],
    ) -> bool {
        let Some(packed) = pack(w, n, k, 1) else {
            eprintln!("no AVX-512 VNNI on this CPU: packed {kind:?} is not tested here");
            return false;
        };
        let a = quantize_activations(x, kind);
        for cols in cols {
            let mut out = vec![f32::NAN; m * n];
            // SAFETY: packed for (n, k); the caller's cols are on groups;
            // m * n outputs.
            unsafe { matmul(&packed, n, k, &a, m, cols.clone(), out.as_mut_ptr()) };
            assert_dots(kind, w, n, k, &a, m, cols, &out, &format!("packed, m {m}"));
        }
        true
    }

    /// `out` (`m x n`, NaN where unwritten) holds `dot_generic`'s bits for
    /// every column in `cols` and nothing elsewhere.
    #[allow(clippy::too_many_arguments)]
    pub fn assert_dots(
        kind: Kind,
        w: &[u8],
        n: usize,
        k: usize,
        a: &[Q8],
        m: usize,
        cols: &Range<usize>,
        out: &[f32],
        label: &str,
    ) {
        let (nb, rb) = (k / 32, k / 32 * kind.block_bytes());
        for col in 0..n {
            for row in 0..m {
                let got = out[row * n + col];
                if !cols.contains(&col) {
                    assert!(got.is_nan(), "{kind:?} {label} wrote column {col}");
                    continue;
                }
                let want = dot_generic(
                    kind,
                    &w[col * rb..(col + 1) * rb],
                    &a[row * nb..(row + 1) * nb],
                );
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{kind:?} {label} ({row}, {col})"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{activation_rows, assert_dots, weights};
    use super::*;

    #[test]
    fn quantizes_like_ggml() {
        let mut x = [0f32; 32];
        x[0] = 127.0; // d = 1, id = 1
        x[1] = -0.5; // ties to even: 0
        x[2] = 1.5; // 2
        x[3] = 2.5; // 2
        let q = quantize_q8(&x, true);
        assert_eq!((q.qs[0], q.qs[1], q.qs[2], q.qs[3]), (127, 0, 2, 2));
        assert_eq!(q.s, 131.0);
        let z = quantize_q8(&[0.0; 32], true);
        assert_eq!((z.d, z.s, z.qs[0]), (0.0, 0.0, 0));
    }

    #[test]
    fn vector_quantization_gives_the_scalar_blocks() {
        let x: Vec<f32> = (0..32 * 40)
            .map(|i| match i % 97 {
                0 => 0.5 * (i / 97) as f32, // exact halves: ties to even
                _ => ((i * 53 % 101) as f32 / 50.0 - 1.0) * (1.0 + (i % 9) as f32),
            })
            .chain([0.0; 32]) // an all-zero block
            .collect();
        for kind in [Kind::Q4_0, Kind::Q4_1, Kind::Q8_0] {
            let got = quantize_activations(&x, kind);
            for (b, g) in x.chunks_exact(32).zip(&got) {
                let want = quantize_q8(b, kind.activations_carry_sum());
                assert_eq!(
                    (g.qs, g.d.to_bits(), g.s.to_bits()),
                    (want.qs, want.d.to_bits(), want.s.to_bits())
                );
            }
        }
    }

    /// Every weight kind on every loop this CPU can run.
    fn kinds_and_paths() -> Vec<(Kind, Path)> {
        let mut paths = vec![Path::Plain];
        if has_avx2() {
            paths.push(Path::Avx2);
        }
        if has_vnni() {
            paths.push(Path::Vnni);
        } else {
            eprintln!("no AVX-512 VNNI on this CPU: its matmul path is not tested here");
        }
        let kinds = [Kind::Q4_0, Kind::Q4_1, Kind::Q5_0, Kind::Q8_0];
        kinds
            .into_iter()
            .flat_map(|k| paths.iter().map(move |&p| (k, p)))
            .collect()
    }

    #[test]
    fn tiled_matmul_gives_every_dot_bit_for_bit() {
        // Sizes that leave partial tiles in both directions; one row is the
        // decode shape (four columns at a time).
        let (n, k) = (11, 96);
        for m in [1, 3, 7, 70] {
            let x = activation_rows(m, k);
            for (kind, path) in kinds_and_paths() {
                let w = weights(kind, n * k / 32, 11);
                let a = quantize_activations(&x, kind);
                for cols in [0..n, 1..6, 3..4, 2..11] {
                    let mut out = vec![f32::NAN; m * n];
                    // SAFETY: m * n outputs; the columns are ours; the CPU
                    // runs the path.
                    unsafe {
                        matmul_columns_on(
                            path,
                            kind,
                            &w,
                            n,
                            k,
                            &a,
                            m,
                            cols.clone(),
                            out.as_mut_ptr(),
                        )
                    };
                    assert_dots(
                        kind,
                        &w,
                        n,
                        k,
                        &a,
                        m,
                        &cols,
                        &out,
                        &format!("{path:?} m {m}"),
                    );
                }
            }
        }
    }

    #[test]
    fn one_dot_gives_the_plain_bits() {
        let k = 128;
        let x = activation_rows(4, k);
        for kind in [Kind::Q4_0, Kind::Q4_1, Kind::Q5_0, Kind::Q8_0] {
            let w = weights(kind, k / 32, 4);
            let a = quantize_activations(&x, kind);
            let rows: [&[Q8]; 4] = std::array::from_fn(|r| &a[r * 4..(r + 1) * 4]);
            let each = dots(kind, &w, rows);
            for (r, row) in rows.into_iter().enumerate() {
                let want = dot_generic(kind, &w, row).to_bits();
                assert_eq!(dot(kind, &w, row).to_bits(), want, "{kind:?}");
                assert_eq!(each[r].to_bits(), want, "{kind:?}, dots row {r}");
            }
        }
    }

    #[test]
    fn the_vector_path_sums_like_the_plain_one() {
        let k = 512;
        let x: Vec<f32> = (0..k)
            .map(|i| ((i * 53 % 97) as f32 / 48.0 - 1.0) * (1.0 + (i % 13) as f32))
            .collect();
        for kind in [Kind::Q4_0, Kind::Q4_1, Kind::Q5_0, Kind::Q8_0] {
            let w = weights(kind, k / 32, 7);
            let a = quantize_activations(&x, kind);
            let plain = dot_generic(kind, &w, &a);
            assert!(plain.is_finite() && plain != 0.0);
            let mut out = [0f32; 1];
            // SAFETY: one row, one column, one output.
            unsafe { matmul_columns(kind, &w, 1, k, &a, 1, 0..1, out.as_mut_ptr()) };
            assert_eq!(out[0].to_bits(), plain.to_bits(), "{kind:?}");
        }
    }
}
