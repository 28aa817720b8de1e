//! glibc's `expf` four at a time, bit for bit. llama.cpp's one-row flash
//! attention (the only kernel it has for a quantized KV cache) calls `expf`
//! once per query row, head and key; on x86-64 Linux that is glibc's FMA
//! build (`__expf_fma`, chosen by its ifunc where the CPU has FMA), and one
//! call per key was most of a long q8_0-cache prefill here. This is that
//! function's arithmetic (glibc 2.28+, `sysdeps/ieee754/flt-32/e_expf.c`,
//! its table and constants, with the fused multiply-adds its FMA build
//! compiles to) on four doubles; lanes off its main path (|x| >= 88, NaN)
//! are handed to `expf` itself.

/// Whether [`exp4`] gives this process's `expf`: glibc on x86-64 with
/// AVX2 and FMA (where glibc itself runs `__expf_fma`). Checked once,
/// against `f32::exp` on a spread of inputs, so another libm (or a glibc
/// that changed) falls back to `expf` per value.
pub fn available() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
        if crate::quant::has_avx2() {
            return agrees_with_libm();
        }
        false
    })
}

/// `exp4` against `f32::exp` on 4,096 inputs across the main path's range.
#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
fn agrees_with_libm() -> bool {
    (0..1024u32).all(|i| {
        let x: [f32; 4] =
            std::array::from_fn(|l| -90.0 + (4 * i + l as u32) as f32 * (90.0 / 4096.0) * 1.0001);
        // SAFETY: AVX2 + FMA checked by the caller.
        let got = unsafe { exp4_avx2(x) };
        got.iter()
            .zip(x)
            .all(|(g, x)| g.to_bits() == x.exp().to_bits())
    })
}

/// `expf` of each of `x`. Call only where [`available`] is true.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn exp4_avx2(x: [f32; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    // `__exp2f_data`: 2^(i/32) less i << 47, and the scaled constants.
    const TAB: [u64; 32] = [
        0x3ff0000000000000,
        0x3fefd9b0d3158574,
        0x3fefb5586cf9890f,
        0x3fef9301d0125b51,
        0x3fef72b83c7d517b,
        0x3fef54873168b9aa,
        0x3fef387a6e756238,
        0x3fef1e9df51fdee1,
        0x3fef06fe0a31b715,
        0x3feef1a7373aa9cb,
        0x3feedea64c123422,
        0x3feece086061892d,
        0x3feebfdad5362a27,
        0x3feeb42b569d4f82,
        0x3feeab07dd485429,
        0x3feea47eb03a5585,
        0x3feea09e667f3bcd,
        0x3fee9f75e8ec5f74,
        0x3feea11473eb0187,
        0x3feea589994cce13,
        0x3feeace5422aa0db,
        0x3feeb737b0cdc5e5,
        0x3feec49182a3f090,
        0x3feed503b23e255d,
        0x3feee89f995ad3ad,
        0x3feeff76f2fb5e47,
        0x3fef199bdd85529c,
        0x3fef3720dcef9069,
        0x3fef5818dcfba487,
        0x3fef7c97337b9b5f,
        0x3fefa4afa2a490da,
        0x3fefd0765b6e4540,
    ];
    let inv_ln2_n = _mm256_set1_pd(f64::from_bits(0x40471547652b82fe));
    let shift = _mm256_set1_pd(f64::from_bits(0x4338000000000000));
    let c0 = _mm256_set1_pd(f64::from_bits(0x3ebc6af84b912394));
    let c1 = _mm256_set1_pd(f64::from_bits(0x3f2ebfce50fac4f3));
    let c2 = _mm256_set1_pd(f64::from_bits(0x3f962e42ff0c52d6));
    let one = _mm256_set1_pd(1.0);
    let xd = _mm256_cvtps_pd(_mm_loadu_ps(x.as_ptr()));
    // x * 32 / ln 2 = k + r, k rounded by the shift (one fused rounding).
    let kd = _mm256_fmadd_pd(inv_ln2_n, xd, shift);
    let ki = _mm256_castpd_si256(kd);
    let kd = _mm256_sub_pd(kd, shift);
    let r = _mm256_fmsub_pd(inv_ln2_n, xd, kd);
    // s = 2^(k/32): the table's entry k % 32, k / 32 added to its exponent.
    let t = _mm256_i64gather_epi64::<8>(
        TAB.as_ptr() as *const i64,
        _mm256_and_si256(ki, _mm256_set1_epi64x(31)),
    );
    let s = _mm256_castsi256_pd(_mm256_add_epi64(t, _mm256_slli_epi64::<47>(ki)));
    let z = _mm256_fmadd_pd(c0, r, c1);
    let r2 = _mm256_mul_pd(r, r);
    let y = _mm256_fmadd_pd(r, c2, one);
    let y = _mm256_mul_pd(_mm256_fmadd_pd(z, r2, y), s);
    let mut out = [0f32; 4];
    _mm_storeu_ps(out.as_mut_ptr(), _mm256_cvtpd_ps(y));
    for (o, &x) in out.iter_mut().zip(&x) {
        // glibc's test: the top twelve bits of |x| past 88's (and NaN).
        if (x.to_bits() >> 20) & 0x7ff > 0x42a {
            *o = x.exp();
        }
    }
    out
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn four_at_a_time_is_this_libms_expf() {
        if !available() {
            eprintln!("not glibc on x86-64 with AVX2 + FMA: the vector expf is not used here");
            return;
        }
        // Floats in [-89, 0] a stride of bit patterns apart, the large and
        // special ones (the scalar lanes), and mixes of both in one call.
        let mut xs: Vec<f32> = (0..(1u32 << 22))
            .map(|i| -f32::from_bits(i.wrapping_mul(4099) % 0x42b2_0000))
            .collect();
        xs.extend([
            0.0,
            -0.0,
            -87.9,
            -88.0,
            -88.8,
            -103.0,
            -103.5,
            -104.0,
            -1e30,
            f32::NEG_INFINITY,
            f32::NAN,
            1.0,
            88.0,
            89.0,
        ]);
        xs.extend((0..4096).map(|i| -(i as f32) * 0.0271));
        for four in xs.chunks(4) {
            let x: [f32; 4] = std::array::from_fn(|l| four[l % four.len()]);
            // SAFETY: `available` checked AVX2 + FMA.
            let got = unsafe { exp4_avx2(x) };
            for (g, x) in got.iter().zip(x) {
                let want = x.exp();
                assert!(
                    g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                    "exp({x:e}) = {want:e}, got {g:e}"
                );
            }
        }
    }
}
