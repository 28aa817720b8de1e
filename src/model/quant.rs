//! Matmuls over Q4_0 / Q4_1 / Q8_0 GGUF weights that quantize activations
//! exactly as llama.cpp (ggml, x86) does: `d = max/127`, `id = 127/max`,
//! round half to even, Q8_1 `s = f16(d * sum)`. candle rounds these
//! differently (its Q8_1 `s` is `f16(sum) * f16(d)`), which moves logits by
//! enough to flip greedy near-ties against llama.cpp. Its Q4_1 kernel is
//! also scalar; these loops vectorise (AVX2 chosen at run time).
//! Other formats go through candle's `QMatMul`.
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Result, Tensor};
use half::f16;

/// A weight matrix `(n, k)` applied as `x @ W^T`.
#[derive(Debug, Clone)]
pub enum Linear {
    Ggml(GgmlMatrix),
    Candle(QMatMul),
}

impl Linear {
    /// Our kernels for Q4_0/Q4_1/Q8_0 on the CPU, candle's otherwise.
    pub fn from_qtensor(t: QTensor) -> Result<Self> {
        let on_cpu = matches!(t.device(), Device::Cpu);
        let kind = match t.dtype() {
            GgmlDType::Q4_0 => Some(Kind::Q4_0),
            GgmlDType::Q4_1 => Some(Kind::Q4_1),
            GgmlDType::Q8_0 => Some(Kind::Q8_0),
            _ => None,
        };
        match (on_cpu, kind) {
            (true, Some(kind)) => {
                let (n, k) = t.shape().dims2()?;
                Ok(Linear::Ggml(GgmlMatrix {
                    kind,
                    n,
                    k,
                    data: t.data()?.into_owned(),
                }))
            }
            _ => Ok(Linear::Candle(QMatMul::from_arc(std::sync::Arc::new(t))?)),
        }
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Candle(m) => m.forward(x),
            Linear::Ggml(m) => m.forward(x),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Q4_0,
    Q4_1,
    Q8_0,
}

impl Kind {
    fn block_bytes(self) -> usize {
        match self {
            Kind::Q4_0 => 18,
            Kind::Q4_1 => 20,
            Kind::Q8_0 => 34,
        }
    }
}

/// Raw ggml blocks of an `(n, k)` matrix, row-major.
#[derive(Debug, Clone)]
pub struct GgmlMatrix {
    kind: Kind,
    n: usize,
    k: usize,
    data: Vec<u8>,
}

/// One activation block: ggml's `block_q8_1` (`s` unused for Q8_0).
#[derive(Clone, Copy)]
struct Q8 {
    d: f32,
    s: f32,
    qs: [i8; 32],
}

impl GgmlMatrix {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let k = *dims.last().unwrap_or(&0);
        if k != self.k || !k.is_multiple_of(32) {
            candle_core::bail!(
                "matmul: input {dims:?} against weight ({}, {})",
                self.n,
                self.k
            );
        }
        let m = x.elem_count() / k;
        let xs = x
            .flatten_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1::<f32>()?;
        let with_s = self.kind == Kind::Q4_1;
        let nb = k / 32;
        let acts: Vec<Q8> = xs
            .chunks_exact(32)
            .map(|b| quantize_q8(b, with_s))
            .collect();
        let mut out = vec![0f32; m * self.n];
        let out_ptr = out.as_mut_ptr() as usize;
        let row_bytes = nb * self.kind.block_bytes();
        let avx2 = has_avx2();
        // Units of 8 output columns; every row of x per unit reuses the weights.
        let units = self.n.div_ceil(8);
        candle_core::utils::barrier_pool().execute_chunked(units, |range| {
            for u in range {
                for col in u * 8..((u + 1) * 8).min(self.n) {
                    let w = &self.data[col * row_bytes..(col + 1) * row_bytes];
                    for row in 0..m {
                        let a = &acts[row * nb..(row + 1) * nb];
                        let v = dot(self.kind, w, a, avx2);
                        // SAFETY: each (row, col) is written by exactly one unit.
                        unsafe { *(out_ptr as *mut f32).add(row * self.n + col) = v };
                    }
                }
            }
        });
        let mut shape = dims;
        *shape.last_mut().expect("rank >= 1") = self.n;
        Tensor::from_vec(out, shape, x.device())
    }
}

/// ggml's x86 `quantize_row_q8_1` / `quantize_row_q8_0` for one block.
fn quantize_q8(x: &[f32], with_s: bool) -> Q8 {
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

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn dot(kind: Kind, w: &[u8], a: &[Q8], avx2: bool) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: the CPU has AVX2 and FMA (checked at run time).
        return unsafe { dot_avx2(kind, w, a) };
    }
    let _ = avx2;
    dot_generic(kind, w, a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(kind: Kind, w: &[u8], a: &[Q8]) -> f32 {
    dot_generic(kind, w, a)
}

/// Sum over blocks of `d_w * d_x * sum(q_w * q_x)` (+ `m_w * s_x` for Q4_1),
/// in ggml's order: block terms accumulate, the min terms separately.
#[inline(always)]
fn dot_generic(kind: Kind, w: &[u8], a: &[Q8]) -> f32 {
    let bb = kind.block_bytes();
    let mut acc = 0f32;
    let mut summs = 0f32;
    for (blk, x) in w.chunks_exact(bb).zip(a) {
        let d = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
        let sumi: i32 = match kind {
            Kind::Q8_0 => blk[2..34]
                .iter()
                .zip(&x.qs)
                .map(|(&q, &y)| (q as i8 as i32) * y as i32)
                .sum(),
            Kind::Q4_0 => nibble_dot(&blk[2..18], &x.qs, 8),
            Kind::Q4_1 => {
                let m = f16::from_le_bytes([blk[2], blk[3]]).to_f32();
                summs += m * x.s;
                nibble_dot(&blk[4..20], &x.qs, 0)
            }
        };
        acc += d * x.d * sumi as f32;
    }
    acc + summs
}

/// `sum((nibble - bias) * y)` with low nibbles = elements 0..16, high = 16..32.
#[inline(always)]
fn nibble_dot(qs: &[u8], y: &[i8; 32], bias: i32) -> i32 {
    let mut s = 0i32;
    for j in 0..16 {
        let lo = (qs[j] & 0x0f) as i32 - bias;
        let hi = (qs[j] >> 4) as i32 - bias;
        s += lo * y[j] as i32 + hi * y[j + 16] as i32;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(dtype: GgmlDType) {
        let dev = Device::Cpu;
        let (n, k, m) = (24, 96, 5);
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
        assert!(matches!(ours, Linear::Ggml(_)));
        let got = ours.forward(&xt).unwrap();
        assert_eq!(got.dims(), &[1, m, n]);
        let diff = (got - &exact)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let scale = exact
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        // Only the activation quantization (8 bits) separates the two.
        assert!(
            diff < scale * 0.02,
            "{dtype:?}: diff {diff} vs scale {scale}"
        );
    }

    #[test]
    fn matches_dequantized_matmul() {
        check(GgmlDType::Q4_0);
        check(GgmlDType::Q4_1);
        check(GgmlDType::Q8_0);
    }

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
    fn other_formats_use_candle() {
        let t = Tensor::zeros((4, 256), candle_core::DType::F32, &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, GgmlDType::Q4K).unwrap();
        assert!(matches!(
            Linear::from_qtensor(q).unwrap(),
            Linear::Candle(_)
        ));
    }
}
