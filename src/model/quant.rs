//! Matmuls over Q4_0 / Q4_1 / Q5_0 / Q8_0 and Q4_K / Q5_K / Q6_K GGUF
//! weights that quantize activations and sum exactly as llama.cpp (ggml,
//! x86) does (K-quants: see `reportlens_kernels::kquant`): `d = max/127`,
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
use reportlens_kernels::kquant::{self, quantize_q8k_row, KKind, Q8K, QK_K};
use reportlens_kernels::q4_1_packed::{matmul_packed as q4_1_packed, pack_q4_1};
use reportlens_kernels::q4k_packed::{self, matmul_packed as q4_k_packed, pack_q4_k};
use reportlens_kernels::q5_0_packed::{self, matmul_packed as q5_0_packed, pack_q5_0};
use reportlens_kernels::q6k_packed::{matmul_packed as q6_k_packed, pack_q6_k};
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
    /// Our kernels for Q4_0/Q4_1/Q5_0/Q8_0 and Q4_K/Q5_K/Q6_K on the CPU,
    /// from the file's own blocks. Other quantized formats (Q5_1, Q2_K,
    /// Q3_K, ...) are re-quantized to Q8_0 there: candle's CPU kernels for
    /// them are scalar unless the whole build targets AVX2, about 15x
    /// slower than ours. Dense formats and
    /// other devices use candle's `QMatMul`; F16 and BF16 matrices are held
    /// as F16 everywhere (candle's default widens them to f32: twice the
    /// memory).
    pub fn from_qtensor(t: QTensor) -> Result<Self> {
        if matches!(t.dtype(), GgmlDType::F16 | GgmlDType::BF16) {
            let half = t.dequantize_f16(&t.device())?;
            return Ok(Linear::Candle(QMatMul::TensorF16(half)));
        }
        let on_cpu = matches!(t.device(), Device::Cpu);
        let (n, k) = t.shape().dims2()?;
        match (on_cpu, native_format(t.dtype(), k)) {
            // Packed straight from the tensor's blocks: no third copy of
            // a matrix (the head is 109 MB in Index's Q4_K_M) while loading.
            (true, Some(format)) => Ok(Linear::Ggml(GgmlMatrix::new(format, n, k, t.data()?))),
            (true, None) if requantized_on_cpu(t.dtype()) && k.is_multiple_of(32) => {
                let dense = t.dequantize(&Device::Cpu)?;
                drop(t);
                let q8 = QTensor::quantize(&dense, GgmlDType::Q8_0)?;
                drop(dense);
                Ok(Linear::Ggml(GgmlMatrix::new(
                    Format::Block(Kind::Q8_0),
                    n,
                    k,
                    q8.data()?,
                )))
            }
            _ => Ok(Linear::Candle(QMatMul::from_arc(std::sync::Arc::new(t))?)),
        }
    }
}

/// The kernels that run `dtype` matrices with rows of `k` values from
/// their own blocks on the CPU, if any.
fn native_format(dtype: GgmlDType, k: usize) -> Option<Format> {
    let block = |kind| Some(Format::Block(kind));
    let sup = |kind| k.is_multiple_of(QK_K).then_some(Format::Super(kind));
    match dtype {
        GgmlDType::Q4_0 => block(Kind::Q4_0),
        GgmlDType::Q4_1 => block(Kind::Q4_1),
        GgmlDType::Q5_0 => block(Kind::Q5_0),
        GgmlDType::Q8_0 => block(Kind::Q8_0),
        GgmlDType::Q4K => sup(KKind::Q4K),
        GgmlDType::Q5K => sup(KKind::Q5K),
        GgmlDType::Q6K => sup(KKind::Q6K),
        _ => None,
    }
}

/// Quantized formats run as Q8_0 on the CPU (see `Linear::from_qtensor`).
pub fn requantized_on_cpu(dtype: GgmlDType) -> bool {
    let dense = matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16);
    // Every native format takes rows of whole 256-value super-blocks.
    !dense && native_format(dtype, QK_K).is_none()
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
        && ours
            .iter()
            .all(|g| g.k == ours[0].k && g.format.acts() == ours[0].format.acts());
    let outs = if shared {
        forward_ggml(&ours, x)?
    } else {
        ws.iter()
            .map(|w| w.forward(x))
            .collect::<Result<Vec<_>>>()?
    };
    Ok(outs.try_into().expect("one output per weight"))
}

/// A weight format our kernels run: 32-value blocks or 256-value
/// super-blocks (K-quants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Block(Kind),
    Super(KKind),
}

/// How a format's activations are quantized (matrices of one input that
/// agree on it share the quantized rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActFormat {
    Q8_0,
    Q8_1,
    Q8K,
    /// Q8_K with the gemm's sign rule on llama.cpp's gemm rows (Q4_K).
    Q8KTiled,
}

impl Format {
    fn acts(self) -> ActFormat {
        match self {
            Format::Block(k) if k.activations_carry_sum() => ActFormat::Q8_1,
            Format::Block(_) => ActFormat::Q8_0,
            Format::Super(KKind::Q4K) => ActFormat::Q8KTiled,
            Format::Super(_) => ActFormat::Q8K,
        }
    }
}

/// One input's rows quantized for a format's kernels.
enum Activations {
    Blocks(Vec<Q8>),
    Supers(Vec<Q8K>),
}

/// Raw ggml blocks of an `(n, k)` matrix, row-major, or Q8_0 / Q4_1 / Q4_K /
/// Q6_K re-laid for the VNNI kernels where the CPU has them.
#[derive(Debug, Clone)]
pub struct GgmlMatrix {
    format: Format,
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
    PackedQ5_0,
    PackedQ4K,
    PackedQ6K,
}

impl GgmlMatrix {
    fn new(format: Format, n: usize, k: usize, data: std::borrow::Cow<'_, [u8]>) -> Self {
        // Packing at load uses the threads the model will compute with.
        let t = crate::model::device::cpu_threads();
        let packed = match format {
            Format::Block(Kind::Q8_0) => pack_q8_0(&data, n, k, t).map(|d| (d, Layout::PackedQ8_0)),
            Format::Block(Kind::Q4_1) => pack_q4_1(&data, n, k, t).map(|d| (d, Layout::PackedQ4_1)),
            Format::Block(Kind::Q5_0) => pack_q5_0(&data, n, k, t).map(|d| (d, Layout::PackedQ5_0)),
            Format::Super(KKind::Q4K) => pack_q4_k(&data, n, k, t).map(|d| (d, Layout::PackedQ4K)),
            Format::Super(KKind::Q6K) => pack_q6_k(&data, n, k, t).map(|d| (d, Layout::PackedQ6K)),
            _ => None,
        };
        let (data, layout) = packed.unwrap_or_else(|| (data.into_owned(), Layout::Ggml));
        Self {
            format,
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
    unsafe fn columns(&self, acts: &Activations, m: usize, cols: Range<usize>, out: *mut f32) {
        let (data, n, k) = (&self.data, self.n, self.k);
        // SAFETY: the caller's contract; each layout's kernel for its data,
        // with the activations quantized for this format (`forward_ggml`).
        unsafe {
            match (self.format, acts, self.layout) {
                (_, Activations::Blocks(a), Layout::PackedQ8_0) => {
                    q8_0_packed(data, n, k, a, m, cols, out)
                }
                (_, Activations::Blocks(a), Layout::PackedQ4_1) => {
                    q4_1_packed(data, n, k, a, m, cols, out)
                }
                (_, Activations::Blocks(a), Layout::PackedQ5_0) => {
                    q5_0_packed(data, n, k, a, m, cols, out)
                }
                (_, Activations::Supers(a), Layout::PackedQ4K) => {
                    q4_k_packed(data, n, k, a, m, cols, out)
                }
                (_, Activations::Supers(a), Layout::PackedQ6K) => {
                    q6_k_packed(data, n, k, a, m, cols, out)
                }
                (Format::Block(kind), Activations::Blocks(a), Layout::Ggml) => {
                    matmul_columns(kind, data, n, k, a, m, cols, out)
                }
                (Format::Super(kind), Activations::Supers(a), Layout::Ggml) => {
                    kquant::matmul_columns(kind, data, n, k, a, m, cols, out)
                }
                _ => unreachable!("activations quantized for another format"),
            }
        }
    }
}

/// Output columns per unit of work: every row of `x` reuses a unit's weights.
const UNIT: usize = 8;

impl GgmlMatrix {
    /// Columns per unit of work: `UNIT`, or a whole packed group.
    fn unit(&self) -> usize {
        match self.layout {
            // Both K-quant layouts group sixteen rows.
            Layout::PackedQ4K | Layout::PackedQ6K => UNIT.max(q4k_packed::GROUP),
            Layout::PackedQ5_0 | Layout::PackedQ8_0 => UNIT.max(q5_0_packed::GROUP),
            _ => UNIT,
        }
    }
}

/// `x @ W^T` for each of `ms` (same `k`, same activation format).
fn forward_ggml(ms: &[&GgmlMatrix], x: &Tensor) -> Result<Vec<Tensor>> {
    let dims = x.dims().to_vec();
    let k = *dims.last().unwrap_or(&0);
    let block = match ms[0].format {
        Format::Block(_) => 32,
        Format::Super(_) => QK_K,
    };
    if let Some(bad) = ms.iter().find(|m| m.k != k || !k.is_multiple_of(block)) {
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
    let acts = match ms[0].format {
        Format::Block(kind) => {
            let nb = k / 32;
            let mut acts = vec![Q8::ZERO; m * nb];
            par_rows_mut(&mut acts, nb, |r, row| {
                quantize_activations_into(&xs[r * k..(r + 1) * k], kind, row)
            });
            Activations::Blocks(acts)
        }
        Format::Super(kind) => {
            let nb = k / QK_K;
            let mut acts = vec![Q8K::ZERO; m * nb];
            par_rows_mut(&mut acts, nb, |r, row| {
                quantize_q8k_row(kind, r, m, &xs[r * k..(r + 1) * k], row)
            });
            Activations::Supers(acts)
        }
    };
    let mut outs: Vec<Vec<f32>> = ms.iter().map(|w| vec![0f32; m * w.n]).collect();
    let ptrs: Vec<usize> = outs.iter_mut().map(|o| o.as_mut_ptr() as usize).collect();
    // Units of every matrix in one list: matrix i has units
    // bounds[i]..bounds[i + 1].
    let mut bounds = vec![0];
    for w in ms {
        bounds.push(bounds[bounds.len() - 1] + w.n.div_ceil(w.unit()));
    }
    let acts = &acts;
    candle_core::utils::barrier_pool().execute_chunked(bounds[ms.len()], |range| {
        let mut u = range.start;
        while u < range.end {
            let i = bounds.partition_point(|&s| s <= u) - 1;
            let end = range.end.min(bounds[i + 1]);
            let unit = ms[i].unit();
            let cols = (u - bounds[i]) * unit..(end - bounds[i]) * unit;
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
    fn k_quants_and_q5_0_run_from_their_own_blocks() {
        let native = [
            (GgmlDType::Q4K, Format::Super(KKind::Q4K)),
            (GgmlDType::Q5K, Format::Super(KKind::Q5K)),
            (GgmlDType::Q6K, Format::Super(KKind::Q6K)),
            (GgmlDType::Q5_0, Format::Block(Kind::Q5_0)),
        ];
        for (dtype, format) in native {
            let (ours, diff, scale) = against_dequantized(dtype, 16, 512, 3);
            assert!(
                matches!(&ours, Linear::Ggml(g) if g.format == format),
                "{dtype:?}"
            );
            // Only the activation quantization (8 bits) separates the two.
            assert!(
                diff < scale * 0.02,
                "{dtype:?}: diff {diff} vs scale {scale}"
            );
            assert!(!requantized_on_cpu(dtype));
        }
        // Formats without kernels of ours run as Q8_0.
        for dtype in [GgmlDType::Q5_1, GgmlDType::Q3K] {
            let (ours, diff, scale) = against_dequantized(dtype, 16, 512, 3);
            assert!(matches!(&ours, Linear::Ggml(g) if g.format == Format::Block(Kind::Q8_0)));
            assert!(diff < scale * 0.02, "{dtype:?}: diff {diff} vs {scale}");
            assert!(requantized_on_cpu(dtype));
        }
        // Dense weights stay with candle.
        let wt = Tensor::zeros((4, 256), candle_core::DType::F32, &Device::Cpu).unwrap();
        let f = QTensor::quantize(&wt, GgmlDType::F16).unwrap();
        assert!(matches!(
            Linear::from_qtensor(f).unwrap(),
            Linear::Candle(_)
        ));
    }

    /// Q4_K, Q6_K and Q5_0 re-laid for the VNNI kernels (a padded last group of
    /// 5 of 37 rows; gemm and gemv rows, the tiled and the one-row sums)
    /// give the bits of the kernels over ggml's own blocks.
    #[test]
    fn packed_sixteen_row_layouts_give_the_ggml_layouts_bits() {
        let dev = Device::Cpu;
        let (n, k) = (37, 512);
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 0.3)
            .collect();
        let wt = Tensor::from_vec(w, (n, k), &dev).unwrap();
        for dtype in [GgmlDType::Q4K, GgmlDType::Q6K, GgmlDType::Q5_0] {
            let q = QTensor::quantize(&wt, dtype).unwrap();
            let raw = q.data().unwrap().into_owned();
            let Linear::Ggml(packed) = Linear::from_qtensor(q).unwrap() else {
                panic!("{dtype:?} runs on our kernels");
            };
            if packed.layout == Layout::Ggml {
                eprintln!("no AVX-512 VNNI on this CPU: {dtype:?} is not packed here");
                return;
            }
            let plain = GgmlMatrix {
                data: raw,
                layout: Layout::Ggml,
                ..packed.clone()
            };
            for m in [1, 5, 9, 40] {
                let x: Vec<f32> = (0..m * k)
                    .map(|i| (i * 53 % 97) as f32 / 48.0 - 1.0)
                    .collect();
                let xt = Tensor::from_vec(x, (m, k), &dev).unwrap();
                let got = Linear::Ggml(packed.clone()).forward(&xt).unwrap();
                let want = Linear::Ggml(plain.clone()).forward(&xt).unwrap();
                let (got, want) = (
                    got.to_vec2::<f32>().unwrap(),
                    want.to_vec2::<f32>().unwrap(),
                );
                for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
                    assert_eq!(g.to_bits(), w.to_bits(), "{dtype:?}, m {m}");
                }
            }
        }
    }

    /// Q, K and V of one input share its quantized rows only where their
    /// formats take the same activations; the results are separate
    /// forwards' either way.
    #[test]
    fn mixed_formats_of_one_input_give_separate_forwards_bits() {
        let dev = Device::Cpu;
        let (k, m) = (512, 5);
        let x: Vec<f32> = (0..m * k)
            .map(|i| (i * 31 % 71) as f32 / 35.0 - 1.0)
            .collect();
        let xt = Tensor::from_vec(x, (1, m, k), &dev).unwrap();
        let mk = |dtype, n: usize, seed: usize| {
            let w: Vec<f32> = (0..n * k)
                .map(|i| (((i + seed) * 37 % 101) as f32 / 50.0 - 1.0) * 0.3)
                .collect();
            let wt = Tensor::from_vec(w, (n, k), &dev).unwrap();
            Linear::from_qtensor(QTensor::quantize(&wt, dtype).unwrap()).unwrap()
        };
        for types in [
            [GgmlDType::Q4K, GgmlDType::Q4K, GgmlDType::Q6K],
            [GgmlDType::Q4K, GgmlDType::Q5_0, GgmlDType::Q8_0],
        ] {
            let ws: Vec<Linear> = types
                .iter()
                .enumerate()
                // 37 rows: a packed K-quant's padded last group.
                .map(|(i, &t)| mk(t, if i == 1 { 37 } else { 12 }, i))
                .collect();
            let each = forward_each([&ws[0], &ws[1], &ws[2]], &xt).unwrap();
            for (w, got) in ws.iter().zip(&each) {
                let want = w.forward(&xt).unwrap();
                let d = max_abs(&(got - &want).unwrap());
                assert_eq!(d, 0.0, "{types:?}");
            }
        }
    }
}
