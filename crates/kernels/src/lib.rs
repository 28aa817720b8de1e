//! The hot loops of ReportLens's CPU inference: quantized dot products and
//! causal attention rows, with llama.cpp's numerics.
//!
//! A crate of its own so that debug builds of the app optimise it like the
//! other dependencies: at the engine crate's debug opt-level these loops run
//! about ten times slower, which made every model test crawl.
pub mod activation;
pub mod attention;
pub mod kquant;
pub mod libm_exp;
mod packed;
pub mod q4_1_packed;
pub mod q4k_packed;
pub mod q5_0_packed;
pub mod q6k_packed;
pub mod q8_packed;
pub mod quant;
mod rows16;

pub use quant::{
    has_avx2, matmul_columns, quantize_activations, quantize_activations_into, Kind, Q8,
};

/// The x86 build of ggml whose rounding to reproduce, where it is not this
/// CPU's. llama.cpp's results depend on the SIMD it was compiled for (lane
/// counts of its f16 dots, its vector `exp`); reference outputs made on one
/// machine replay exactly on another with `REPORTLENS_GGML_SIMD=avx512|avx2`
/// or [`force_simd`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    Avx512,
    Avx2,
}

static FORCED: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Pins the SIMD flavour before the first forward pass (later calls after
/// the kernels have chosen have no effect on the f16 dot layout).
pub fn force_simd(simd: Simd) {
    let v = match simd {
        Simd::Avx512 => 1,
        Simd::Avx2 => 2,
    };
    FORCED.store(v, std::sync::atomic::Ordering::Relaxed);
}

pub fn simd_override() -> Option<Simd> {
    match FORCED.load(std::sync::atomic::Ordering::Relaxed) {
        1 => return Some(Simd::Avx512),
        2 => return Some(Simd::Avx2),
        _ => {}
    }
    static ENV: std::sync::OnceLock<Option<Simd>> = std::sync::OnceLock::new();
    *ENV.get_or_init(
        || match std::env::var("REPORTLENS_GGML_SIMD").ok()?.as_str() {
            "avx512" => Some(Simd::Avx512),
            "avx2" => Some(Simd::Avx2),
            _ => None,
        },
    )
}
