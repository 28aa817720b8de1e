//! The hot loops of ReportLens's CPU inference: quantized dot products and
//! causal attention rows, with llama.cpp's numerics.
//!
//! A crate of its own so that debug builds of the app optimise it like the
//! other dependencies: at the engine crate's debug opt-level these loops run
//! about ten times slower, which made every model test crawl.
pub mod attention;
pub mod quant;

pub use quant::{has_avx2, matmul_columns, quantize_activations, Kind, Q8};
