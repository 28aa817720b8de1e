//! SwiGLU (`silu(gate) * up`) as ggml computes it on x86: `exp` is ggml's
//! vector polynomial (`ggml_v_expf`), not libm's, and its AVX-512, AVX2 and
//! SSE2 versions round differently. Each lane is independent, so scalar code
//! with the same operations (fused where ggml fuses) gives the same bits.
//! libm's `expf` would differ from it by an ulp now and then, enough to move
//! a Q8 activation rounding and, thirty layers on, flip a greedy near-tie.

/// Which of ggml's `ggml_v_expf` this CPU would run (ggml picks at compile
/// time for the build machine; we pick at run time for this one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpFlavor {
    /// AVX-512F + DQ: 16 lanes, `scalef` to apply the exponent.
    Avx512,
    /// AVX2 + FMA: 8 lanes, exponent added to the bits.
    Avx2,
    /// Anything else: libm `expf` (ggml's SSE2/NEON variants are not mirrored).
    Libm,
}

impl ExpFlavor {
    pub fn detect() -> Self {
        match crate::simd_override() {
            Some(crate::Simd::Avx512) => return ExpFlavor::Avx512,
            Some(crate::Simd::Avx2) => return ExpFlavor::Avx2,
            None => {}
        }
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq")
            {
                return ExpFlavor::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return ExpFlavor::Avx2;
            }
        }
        ExpFlavor::Libm
    }

    /// Lanes per vector: elements past the last whole vector use libm.
    fn lanes(self) -> usize {
        match self {
            ExpFlavor::Avx512 => 16,
            ExpFlavor::Avx2 => 8,
            ExpFlavor::Libm => 1,
        }
    }

    #[inline(always)]
    fn exp(self, x: f32) -> f32 {
        match self {
            ExpFlavor::Avx512 => expf_avx512(x),
            ExpFlavor::Avx2 => expf_avx2(x),
            ExpFlavor::Libm => x.exp(),
        }
    }
}

const R: f32 = 12582912.0; // 0x1.8p23
const LOG2E: f32 = f32::from_bits(0x3fb8_aa3b); // 0x1.715476p+0
const LN2_HI: f32 = f32::from_bits(0x3f31_7200); // 0x1.62e4p-1
const LN2_LO: f32 = f32::from_bits(0x35bf_be8e); // 0x1.7f7d1cp-20
const P0: f32 = f32::from_bits(0x3c07_2010); // 0x1.0e4020p-7
const P1: f32 = f32::from_bits(0x3d2b_9f17); // 0x1.573e2ep-5
const P2: f32 = f32::from_bits(0x3e2a_af33); // 0x1.555e66p-3
const P3: f32 = f32::from_bits(0x3eff_fedb); // 0x1.fffdb6p-2
const P4: f32 = f32::from_bits(0x3f7f_fff6); // 0x1.ffffecp-1

/// Range reduction shared by both: `n = round(x / ln 2)`, `b = x - n ln 2`.
#[inline(always)]
fn reduce(x: f32) -> (f32, f32, f32) {
    let z = x.mul_add(LOG2E, R);
    let n = z - R;
    let b = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, x));
    (z, n, b)
}

/// The AVX-512 flavour's polynomial: `exp(b)` before the exponent is applied.
#[inline(always)]
fn poly_avx512(b: f32) -> f32 {
    let u = b * b;
    P0.mul_add(b, P1)
        .mul_add(u, P2.mul_add(b, P3))
        .mul_add(u, P4.mul_add(b, 1.0))
}

/// `ggml_v_expf` for `__m512`, one lane.
#[inline(always)]
pub fn expf_avx512(x: f32) -> f32 {
    let (_, n, b) = reduce(x);
    let j = poly_avx512(b);
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    // `scalef`: j * 2^n rounded once.
    let n = n as i32;
    if n >= -149 {
        // 2^n is an f32 here (subnormal below -126): one f32 multiply
        // rounds exactly once, as `scalef` does.
        let p = if n >= -126 {
            f32::from_bits(((n + 127) as u32) << 23)
        } else {
            f32::from_bits(1u32 << (n + 149))
        };
        j * p
    } else {
        (j as f64 * 2f64.powi(n)) as f32
    }
}

/// `ggml_v_expf` for `__m256`, one lane.
#[inline(always)]
pub fn expf_avx2(x: f32) -> f32 {
    let (z, n, b) = reduce(x);
    let e = z.to_bits().wrapping_shl(23);
    let k = f32::from_bits(e.wrapping_add(1f32.to_bits()));
    let u = b * b;
    let j = P0
        .mul_add(b, P1)
        .mul_add(u, P2.mul_add(b, P3))
        .mul_add(u, P4 * b);
    let an = n.abs();
    if an <= 126.0 {
        return j.mul_add(k, k);
    }
    let g: u32 = if n <= 0.0 { 0x8200_0000 } else { 0 };
    let s1 = f32::from_bits(g.wrapping_add(0x7f00_0000));
    if an > 192.0 {
        return s1 * s1;
    }
    let s2 = f32::from_bits(e.wrapping_sub(g));
    s2.mul_add(j, s2) * s1
}

/// `xs[i] = exp(xs[i])` with `flavor`'s vector `exp`, for a slice whose
/// length is a whole number of that flavor's vectors (8 lanes at a time
/// with AVX2; lanes needing the rare wide-exponent branches go one by one).
pub fn exp_in_place(flavor: ExpFlavor, xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if flavor != ExpFlavor::Libm && crate::quant::has_avx2() {
        // SAFETY: AVX2/FMA/F16C present (checked).
        return unsafe { exp_avx2(flavor, xs) };
    }
    for x in xs.iter_mut() {
        *x = flavor.exp(*x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_avx2(flavor: ExpFlavor, xs: &mut [f32]) {
    use std::arch::x86_64::*;
    let n8 = xs.len() / 8 * 8;
    let set = _mm256_set1_ps;
    for i in (0..n8).step_by(8) {
        let p = xs.as_mut_ptr().add(i);
        let x = _mm256_loadu_ps(p);
        let z = _mm256_fmadd_ps(x, set(LOG2E), set(R));
        let n = _mm256_sub_ps(z, set(R));
        let b = _mm256_fnmadd_ps(n, set(LN2_LO), _mm256_fnmadd_ps(n, set(LN2_HI), x));
        let u = _mm256_mul_ps(b, b);
        let inner = _mm256_fmadd_ps(
            _mm256_fmadd_ps(set(P0), b, set(P1)),
            u,
            _mm256_fmadd_ps(set(P2), b, set(P3)),
        );
        let abs_n = _mm256_andnot_ps(set(-0.0), n);
        let (res, limit) = if flavor == ExpFlavor::Avx512 {
            let j = _mm256_fmadd_ps(inner, u, _mm256_fmadd_ps(set(P4), b, set(1.0)));
            // 2^n from its bits; exact for n in -126..=127 (|n| <= 126 here).
            let e = _mm256_slli_epi32::<23>(_mm256_add_epi32(
                _mm256_cvtps_epi32(n),
                _mm256_set1_epi32(127),
            ));
            (_mm256_mul_ps(j, _mm256_castsi256_ps(e)), 126.0)
        } else {
            let j = _mm256_fmadd_ps(inner, u, _mm256_mul_ps(set(P4), b));
            let e = _mm256_slli_epi32::<23>(_mm256_castps_si256(z));
            let k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(set(1.0))));
            (_mm256_fmadd_ps(j, k, k), 126.0)
        };
        _mm256_storeu_ps(p, res);
        let wide = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(abs_n, set(limit)));
        if wide != 0 {
            // Exponents past the fast path (tiny or huge results, -inf):
            // redo those lanes with the scalar mirror of ggml's branches.
            for l in 0..8 {
                if wide & (1 << l) != 0 {
                    *p.add(l) = flavor.exp(x_lane(x, l));
                }
            }
        }
    }
    for x in xs[n8..].iter_mut() {
        *x = flavor.exp(*x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn x_lane(x: std::arch::x86_64::__m256, l: usize) -> f32 {
    let mut a = [0f32; 8];
    std::arch::x86_64::_mm256_storeu_ps(a.as_mut_ptr(), x);
    a[l]
}

/// `out[i] = silu(gate[i]) * up[i]`, lane for lane as `ggml_vec_swiglu_f32`:
/// whole vectors use the vector `exp`, the tail libm's.
pub fn swiglu(flavor: ExpFlavor, gate: &[f32], up: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::quant::has_avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked).
        return unsafe { swiglu_avx2(flavor, gate, up, out) };
    }
    swiglu_body(flavor, gate, up, out)
}

/// Compiled with FMA so `mul_add` is one instruction, not a libm call.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn swiglu_avx2(flavor: ExpFlavor, gate: &[f32], up: &[f32], out: &mut [f32]) {
    swiglu_body(flavor, gate, up, out)
}

#[inline(always)]
fn swiglu_body(flavor: ExpFlavor, gate: &[f32], up: &[f32], out: &mut [f32]) {
    let whole = gate.len() / flavor.lanes() * flavor.lanes();
    // exp(-x) first (vectorised), then the division and product.
    for (o, &x) in out[..whole].iter_mut().zip(gate) {
        *o = 0.0 - x;
    }
    exp_in_place(flavor, &mut out[..whole]);
    for (i, ((o, &x), &g)) in out.iter_mut().zip(gate).zip(up).enumerate() {
        let e = if i < whole { *o } else { (-x).exp() };
        *o = x / (1.0 + e) * g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_ggmls_hex_floats() {
        assert_eq!(LOG2E, std::f32::consts::LOG2_E);
        assert_eq!(LN2_HI, 0.693_145_75);
        assert!((LN2_HI + LN2_LO - std::f32::consts::LN_2).abs() < 1e-9);
        assert_eq!(P4, 1.0 - 10.0 * 2f32.powi(-24));
    }

    #[test]
    fn both_flavors_are_close_to_libm_and_not_always_equal_to_it() {
        let mut differs = [0usize; 2];
        for i in -20_000..20_000 {
            let x = i as f32 * 0.004_37;
            let want = x.exp();
            for (f, d) in [(ExpFlavor::Avx512, 0), (ExpFlavor::Avx2, 1)] {
                let got = f.exp(x);
                let ulps = (got.to_bits() as i64 - want.to_bits() as i64).abs();
                assert!(ulps <= 3, "{f:?} exp({x}) = {got}, libm {want}");
                differs[d] += (ulps != 0) as usize;
            }
        }
        assert!(differs.iter().all(|&d| d > 100), "{differs:?}");
    }

    #[test]
    fn extremes_flush_like_ggml() {
        for f in [ExpFlavor::Avx512, ExpFlavor::Avx2] {
            assert_eq!(f.exp(-200.0), 0.0, "{f:?}");
            assert_eq!(f.exp(200.0), f32::INFINITY, "{f:?}");
            assert_eq!(f.exp(0.0), 1.0, "{f:?}");
            let sub = f.exp(-100.0);
            assert!(sub > 0.0 && sub < f32::MIN_POSITIVE, "{f:?}: {sub}");
        }
    }

    #[test]
    fn scalef_matches_exact_scaling_down_to_subnormals() {
        // Inputs whose n runs from about -150 to 127: every branch of the
        // exponent application, against j * 2^n computed in f64.
        for i in 0..4000 {
            let x = -104.0 + i as f32 * 0.048;
            let (_, n, b) = reduce(x);
            let j = poly_avx512(b);
            let want = if n.abs() > 192.0 {
                0.0
            } else {
                (j as f64 * 2f64.powi(n as i32)) as f32
            };
            assert_eq!(expf_avx512(x).to_bits(), want.to_bits(), "x = {x}");
        }
    }

    #[test]
    fn the_vector_exp_gives_the_scalar_mirrors_bits() {
        let xs: Vec<f32> = (0..4096)
            .map(|i| -110.0 + i as f32 * 0.0493)
            .chain([
                f32::NEG_INFINITY,
                0.0,
                -0.0,
                88.0,
                89.0,
                -87.5,
                -103.0,
                -150.0,
            ])
            .collect();
        for f in [ExpFlavor::Avx512, ExpFlavor::Avx2] {
            let mut v = xs.clone();
            v.truncate(v.len() / 8 * 8);
            exp_in_place(f, &mut v);
            for (&x, &got) in xs.iter().zip(&v) {
                assert_eq!(got.to_bits(), f.exp(x).to_bits(), "{f:?} exp({x})");
            }
        }
    }

    #[test]
    fn the_tail_uses_libm() {
        let x: Vec<f32> = (0..20).map(|i| i as f32 * 0.37 - 3.0).collect();
        let up = vec![1.0f32; 20];
        let mut out = vec![0f32; 20];
        swiglu(ExpFlavor::Avx512, &x, &up, &mut out);
        for i in 16..20 {
            assert_eq!(out[i], x[i] / (1.0 + (-x[i]).exp()));
        }
        assert_eq!(out[3], x[3] / (1.0 + expf_avx512(-x[3])));
    }
}
