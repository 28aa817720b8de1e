//! Matmuls over Q4_0 / Q4_1 / Q8_0 GGUF weights that quantize activations
//! and sum exactly as llama.cpp (ggml, x86) does: `d = max/127`,
//! `id = 127/max`, round half to even, Q8_1 `s = f16(d * sum)`, eight fused
//! f32 lanes per block, summed pairwise. candle rounds these
//! differently (its Q8_1 `s` is `f16(sum) * f16(d)`), which moves logits by
//! enough to flip greedy near-ties against llama.cpp. Its Q4_1 kernel is
//! also scalar; ours vectorise (AVX2 chosen at run time). The loops live in
//! the `reportlens-kernels` crate; this module feeds them tensors.
//! Other formats go through candle's `QMatMul`.
use std::ops::Range;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Result, Tensor};
use reportlens_kernels::q4_1_packed::{matmul_packed as q4_1_packed, pack_q4_1};
use reportlens_kernels::q8_packed::{matmul_packed as q8_0_packed, pack_q8_0};
use reportlens_kernels::{matmul_columns, quantize_activations_into, Kind, Q8};

use super::rows::par_rows_mut;

/// A weight matrix `(n, k)` applied as `x @ W^T`.
#[derive(Debug, Clone)]
pub enum Linear {
    Ggml(GgmlMatrix),
    Candle(QMatMul),
}

impl Linear {
    /// Our kernels for Q4_0/Q4_1/Q8_0 on the CPU. Other quantized formats
    /// (K-quants, Q5_0/Q5_1) are re-quantized to Q8_0 there: candle's CPU
    /// kernels for them are scalar unless the whole build targets AVX2,
    /// about 15x slower than ours; Q8_0 costs ~1.9x a 4-bit format's memory
    /// and adds well under a tenth of its rounding error. Dense formats and
    /// other devices use candle's `QMatMul`; F16 and BF16 matrices are held
    /// as F16 everywhere (candle's default widens them to f32: twice the
    /// memory).
    pub fn from_qtensor(t: QTensor) -> Result<Self> {
        if matches!(t.dtype(), GgmlDType::F16 | GgmlDType::BF16) {
            let half = t.dequantize_f16(&t.device())?;
            return Ok(Linear::Candle(QMatMul::TensorF16(half)));
        }
        let on_cpu = matches!(t.device(), Device::Cpu);
        let kind = match t.dtype() {
            GgmlDType::Q4_0 => Some(Kind::Q4_0),
            GgmlDType::Q4_1 => Some(Kind::Q4_1),
            GgmlDType::Q8_0 => Some(Kind::Q8_0),
            _ => None,
        };
        let (n, k) = t.shape().dims2()?;
        match (on_cpu, kind) {
            (true, Some(kind)) => Ok(Linear::Ggml(GgmlMatrix::new(
                kind,
                n,
                k,
                t.data()?.into_owned(),
            ))),
            (true, None) if requantized_on_cpu(t.dtype()) && k.is_multiple_of(32) => {
                let dense = t.dequantize(&Device::Cpu)?;
                drop(t);
                let q8 = QTensor::quantize(&dense, GgmlDType::Q8_0)?;
                Ok(Linear::Ggml(GgmlMatrix::new(
                    Kind::Q8_0,
                    n,
                    k,
                    q8.data()?.into_owned(),
                )))
            }
            _ => Ok(Linear::Candle(QMatMul::from_arc(std::sync::Arc::new(t))?)),
        }
    }
}

/// Quantized formats run as Q8_0 on the CPU (see `Linear::from_qtensor`).
pub fn requantized_on_cpu(dtype: GgmlDType) -> bool {
    !matches!(
        dtype,
        GgmlDType::Q4_0
            | GgmlDType::Q4_1
            | GgmlDType::Q8_0
            | GgmlDType::F32
            | GgmlDType::F16
            | GgmlDType::BF16
    )
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Candle(m) => m.forward(x),
            Linear::Ggml(m) => Ok(forward_ggml(&[m], x)?.remove(0)),
        }
    }
}

/// `x @ W^T` for several weights of the same input (a layer's Q, K and V,
/// or its gate and up): where all are ours and take the same activation
/// blocks, `x` is quantized once and the products share one pass of the
/// pool. Results are those of separate `forward`s, bit for bit.
pub fn forward_each<const N: usize>(ws: [&Linear; N], x: &Tensor) -> Result<[Tensor; N]> {
    let ours: Vec<&GgmlMatrix> = ws
        .iter()
        .filter_map(|w| match w {
            Linear::Ggml(g) => Some(g),
            Linear::Candle(_) => None,
        })
        .collect();
    let shared = ours.len() == N
        && ours.iter().all(|g| {
            g.k == ours[0].k
                && g.kind.activations_carry_sum() == ours[0].kind.activations_carry_sum()
        });
    let outs = if shared {
        forward_ggml(&ours, x)?
    } else {
        ws.iter()
            .map(|w| w.forward(x))
            .collect::<Result<Vec<_>>>()?
    };
    Ok(outs.try_into().expect("one output per weight"))
}

/// Raw ggml blocks of an `(n, k)` matrix, row-major, or Q8_0 / Q4_1 re-laid
/// for the VNNI kernels where the CPU has them.
#[derive(Debug, Clone)]
pub struct GgmlMatrix {
    kind: Kind,
    n: usize,
    k: usize,
    data: Vec<u8>,
    layout: Layout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Ggml,
    PackedQ8_0,
    PackedQ4_1,
}

impl GgmlMatrix {
    fn new(kind: Kind, n: usize, k: usize, data: Vec<u8>) -> Self {
        let packed = match kind {
            Kind::Q8_0 => pack_q8_0(&data, n, k).map(|d| (d, Layout::PackedQ8_0)),
            Kind::Q4_1 => pack_q4_1(&data, n, k).map(|d| (d, Layout::PackedQ4_1)),
            Kind::Q4_0 => None,
        };
        let (data, layout) = packed.unwrap_or((data, Layout::Ggml));
        Self {
            kind,
            n,
            k,
            data,
            layout,
        }
    }
}

impl GgmlMatrix {
    /// `out[row * n + col]` for the columns `cols` of all `m` rows.
    ///
    /// # Safety
    /// As `reportlens_kernels::matmul_columns`.
    unsafe fn columns(&self, acts: &[Q8], m: usize, cols: Range<usize>, out: *mut f32) {
        let (data, n, k) = (&self.data, self.n, self.k);
        // SAFETY: the caller's contract; each layout's kernel for its data.
        unsafe {
            match self.layout {
                Layout::PackedQ8_0 => q8_0_packed(data, n, k, acts, m, cols, out),
                Layout::PackedQ4_1 => q4_1_packed(data, n, k, acts, m, cols, out),
                Layout::Ggml => matmul_columns(self.kind, data, n, k, acts, m, cols, out),
            }
        }
    }
}

/// Output columns per unit of work: every row of `x` reuses a unit's weights.
const UNIT: usize = 8;

/// `x @ W^T` for each of `ms` (same `k`, same activation format).
fn forward_ggml(ms: &[&GgmlMatrix], x: &Tensor) -> Result<Vec<Tensor>> {
    let dims = x.dims().to_vec();
    let k = *dims.last().unwrap_or(&0);
    if let Some(bad) = ms.iter().find(|m| m.k != k || !k.is_multiple_of(32)) {
        candle_core::bail!(
            "matmul: input {dims:?} against weight ({}, {})",
            bad.n,
            bad.k
        );
    }
    let m = x.elem_count() / k;
    let xs = x
        .flatten_all()?
        .to_dtype(candle_core::DType::F32)?
        .to_vec1::<f32>()?;
    let nb = k / 32;
    let mut acts = vec![Q8::ZERO; m * nb];
    let kind0 = ms[0].kind;
    par_rows_mut(&mut acts, nb, |r, row| {
        quantize_activations_into(&xs[r * k..(r + 1) * k], kind0, row)
    });
    let mut outs: Vec<Vec<f32>> = ms.iter().map(|w| vec![0f32; m * w.n]).collect();
    let ptrs: Vec<usize> = outs.iter_mut().map(|o| o.as_mut_ptr() as usize).collect();
    // Units of every matrix in one list: matrix i has units
    // bounds[i]..bounds[i + 1].
    let mut bounds = vec![0];
    for w in ms {
        bounds.push(bounds[bounds.len() - 1] + w.n.div_ceil(UNIT));
    }
    let acts = &acts;
    candle_core::utils::barrier_pool().execute_chunked(bounds[ms.len()], |range| {
        let mut u = range.start;
        while u < range.end {
            let i = bounds.partition_point(|&s| s <= u) - 1;
            let end = range.end.min(bounds[i + 1]);
            let cols = (u - bounds[i]) * UNIT..(end - bounds[i]) * UNIT;
            // SAFETY: output `i` holds m * n values and each unit's columns
            // belong to exactly one worker.
            unsafe { ms[i].columns(acts, m, cols, ptrs[i] as *mut f32) };
            u = end;
        }
    });
    ms.iter()
        .zip(outs)
        .map(|(w, out)| {
            let mut shape = dims.clone();
            *shape.last_mut().expect("rank >= 1") = w.n;
            Tensor::from_vec(out, shape, x.device())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_abs(t: &Tensor) -> f32 {
        t.abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// `Linear` over `dtype` weights `(n, k)` applied to `m` rows, against
    /// the matmul with the dequantized weights: the linear, the largest
    /// difference, the largest exact value.
    fn against_dequantized(dtype: GgmlDType, n: usize, k: usize, m: usize) -> (Linear, f32, f32) {
        let dev = Device::Cpu;
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 0.3)
            .collect();
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 53 % 97) as f32 / 48.0 - 1.0) * 2.0)
            .collect();
        let wt = Tensor::from_vec(w, (n, k), &dev).unwrap();
        let xt = Tensor::from_vec(x, (1, m, k), &dev).unwrap();
        let q = QTensor::quantize(&wt, dtype).unwrap();
        let exact = xt
            .matmul(
                &q.dequantize(&dev)
                    .unwrap()
                    .t()
                    .unwrap()
                    .unsqueeze(0)
                    .unwrap(),
            )
            .unwrap();
        let ours = Linear::from_qtensor(q).unwrap();
        let got = ours.forward(&xt).unwrap();
        assert_eq!(got.dims(), &[1, m, n]);
        let diff = max_abs(&(got - &exact).unwrap());
        (ours, diff, max_abs(&exact))
    }

    #[test]
    fn matches_dequantized_matmul() {
        for dtype in [GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let (ours, diff, scale) = against_dequantized(dtype, 24, 96, 5);
            assert!(matches!(ours, Linear::Ggml(_)));
            // Only the activation quantization (8 bits) separates the two.
            assert!(
                diff < scale * 0.02,
                "{dtype:?}: diff {diff} vs scale {scale}"
            );
        }
    }

    #[test]
    fn k_quants_run_as_q8_0_close_to_their_own_values() {
        for dtype in [GgmlDType::Q4K, GgmlDType::Q6K, GgmlDType::Q5_0] {
            let (ours, diff, scale) = against_dequantized(dtype, 16, 512, 3);
            assert!(matches!(&ours, Linear::Ggml(g) if g.kind == Kind::Q8_0));
            assert!(
                diff < scale * 0.02,
                "{dtype:?}: diff {diff} vs scale {scale}"
            );
        }
        // Dense weights stay with candle.
        let wt = Tensor::zeros((4, 256), candle_core::DType::F32, &Device::Cpu).unwrap();
        let f = QTensor::quantize(&wt, GgmlDType::F16).unwrap();
        assert!(matches!(
            Linear::from_qtensor(f).unwrap(),
            Linear::Candle(_)
        ));
    }
}
