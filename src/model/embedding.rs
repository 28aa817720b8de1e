//! The token embedding table. A GGUF's quantized table stays quantized on
//! the CPU and only the looked-up rows are dequantized, as llama.cpp's
//! `get_rows` does: Index-1.9B's 65K x 2048 table is 533 MB as f32 and
//! 141 MB as Q8_0.
use candle_core::quantized::{ggml_file::qtensor_from_ggml, GgmlDType, QTensor};
use candle_core::{Device, Result, Tensor};

#[derive(Debug, Clone)]
pub enum Embedding {
    /// `(vocab, hidden)` f32 on the model's device.
    Dense(Tensor),
    /// ggml blocks of `rows` rows of `cols` values, row-major, on the CPU.
    Quantized {
        dtype: GgmlDType,
        rows: usize,
        cols: usize,
        data: Vec<u8>,
    },
}

impl Embedding {
    /// A GGUF table: kept quantized on the CPU, dequantized elsewhere.
    pub fn from_qtensor(t: &QTensor, device: &Device) -> Result<Self> {
        let dtype = t.dtype();
        let dense = matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16);
        let (rows, cols) = t.shape().dims2()?;
        if dense || !device.is_cpu() || !cols.is_multiple_of(dtype.block_size()) {
            return Ok(Embedding::Dense(t.dequantize(device)?));
        }
        Ok(Embedding::Quantized {
            dtype,
            rows,
            cols,
            data: t.data()?.into_owned(),
        })
    }

    /// Rows `ids`, `(L, hidden)` f32.
    pub fn lookup(&self, ids: &[u32], device: &Device) -> Result<Tensor> {
        match self {
            Embedding::Dense(t) => t.index_select(&Tensor::new(ids, device)?, 0),
            Embedding::Quantized {
                dtype,
                rows,
                cols,
                data,
            } => {
                let row_bytes = cols / dtype.block_size() * dtype.type_size();
                let mut picked = Vec::with_capacity(ids.len() * row_bytes);
                for &id in ids {
                    let id = id as usize;
                    if id >= *rows {
                        candle_core::bail!("token id {id} is outside the {rows}-row embedding");
                    }
                    picked.extend_from_slice(&data[id * row_bytes..(id + 1) * row_bytes]);
                }
                qtensor_from_ggml(*dtype, &picked, vec![ids.len(), *cols], &Device::Cpu)?
                    .dequantize(device)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_rows_are_the_dequantized_tables_rows() {
        let dev = Device::Cpu;
        let (vocab, hidden) = (40, 64);
        let w: Vec<f32> = (0..vocab * hidden)
            .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 0.7)
            .collect();
        let t = Tensor::from_vec(w, (vocab, hidden), &dev).unwrap();
        for dtype in [
            GgmlDType::Q8_0,
            GgmlDType::Q4_1,
            GgmlDType::Q4K,
            GgmlDType::F16,
        ] {
            let hidden = if dtype == GgmlDType::Q4K { 256 } else { hidden };
            let t = if hidden == 256 {
                Tensor::ones((vocab, 256), candle_core::DType::F32, &dev)
                    .unwrap()
                    .broadcast_mul(
                        &Tensor::arange(0f32, vocab as f32, &dev)
                            .unwrap()
                            .unsqueeze(1)
                            .unwrap(),
                    )
                    .unwrap()
            } else {
                t.clone()
            };
            let q = QTensor::quantize(&t, dtype).unwrap();
            let e = Embedding::from_qtensor(&q, &dev).unwrap();
            assert_eq!(
                matches!(e, Embedding::Quantized { .. }),
                dtype != GgmlDType::F16
            );
            let full = q.dequantize(&dev).unwrap();
            let ids = [3u32, 0, 39, 3];
            let got = e.lookup(&ids, &dev).unwrap();
            let want = full
                .index_select(&Tensor::new(&ids[..], &dev).unwrap(), 0)
                .unwrap();
            let (g, w) = (
                got.to_vec2::<f32>().unwrap(),
                want.to_vec2::<f32>().unwrap(),
            );
            assert_eq!(g, w, "{dtype:?}");
            assert!(
                e.lookup(&[40], &dev).is_err(),
                "{dtype:?}: id past the table"
            );
        }
    }
}
