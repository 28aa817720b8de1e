//! A GGUF (v3) writer that streams tensor data one tensor at a time.
//!
//! candle's `gguf_file::write` wants every tensor in memory at once; a
//! 1.9B-parameter model converted that way would need all of it twice. The
//! header only needs each tensor's name, shape and type (its byte size
//! follows), so it is written first and the data after it, tensor by tensor.
use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};

/// llama.cpp's default `general.alignment`.
pub const ALIGNMENT: u64 = 32;
const GGUF_MAGIC: u32 = 0x4655_4747; // "GGUF"
const GGUF_VERSION: u32 = 3;

/// A tensor as the header declares it. `shape` in candle order
/// (`(rows, cols)`); GGUF stores it innermost first.
#[derive(Debug, Clone)]
pub struct TensorHeader {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: GgmlDType,
}

impl TensorHeader {
    /// Bytes of data, or `None` when the shape does not fill whole blocks.
    pub fn bytes(&self) -> Option<u64> {
        let elems: usize = self.shape.iter().product();
        let block = self.dtype.block_size();
        let last = *self.shape.last().unwrap_or(&0);
        (block > 0 && last.is_multiple_of(block))
            .then(|| (elems / block * self.dtype.type_size()) as u64)
    }
}

/// ggml's type codes (`ggml.h`).
pub fn ggml_type_code(t: GgmlDType) -> u32 {
    match t {
        GgmlDType::F32 => 0,
        GgmlDType::F16 => 1,
        GgmlDType::Q4_0 => 2,
        GgmlDType::Q4_1 => 3,
        GgmlDType::Q5_0 => 6,
        GgmlDType::Q5_1 => 7,
        GgmlDType::Q8_0 => 8,
        GgmlDType::Q8_1 => 9,
        GgmlDType::Q2K => 10,
        GgmlDType::Q3K => 11,
        GgmlDType::Q4K => 12,
        GgmlDType::Q5K => 13,
        GgmlDType::Q6K => 14,
        GgmlDType::Q8K => 15,
        GgmlDType::BF16 => 30,
    }
}

/// Writes a GGUF whose header is fixed up front; `write_tensor` must then
/// be called once per declared tensor, in order.
pub struct GgufWriter {
    out: BufWriter<File>,
    path: PathBuf,
    tensors: Vec<TensorHeader>,
    sizes: Vec<u64>,
    next: usize,
    written: u64,
}

impl GgufWriter {
    /// Creates `path` and writes the header: metadata and tensor table.
    pub fn create(
        path: &Path,
        metadata: &[(String, Value)],
        tensors: Vec<TensorHeader>,
    ) -> std::io::Result<Self> {
        let mut sizes = Vec::with_capacity(tensors.len());
        for t in &tensors {
            let bytes = t.bytes().ok_or_else(|| {
                invalid(format!(
                    "tensor `{}` of shape {:?} does not fit {:?} blocks",
                    t.name, t.shape, t.dtype
                ))
            })?;
            sizes.push(bytes);
        }
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        out.write_all(&GGUF_MAGIC.to_le_bytes())?;
        out.write_all(&GGUF_VERSION.to_le_bytes())?;
        out.write_all(&(tensors.len() as u64).to_le_bytes())?;
        out.write_all(&(metadata.len() as u64).to_le_bytes())?;
        for (key, value) in metadata {
            write_string(&mut out, key)?;
            out.write_all(&value_type_code(value).to_le_bytes())?;
            write_value(&mut out, value)?;
        }
        let mut offset = 0u64;
        for (t, &size) in tensors.iter().zip(&sizes) {
            write_string(&mut out, &t.name)?;
            out.write_all(&(t.shape.len() as u32).to_le_bytes())?;
            for &d in t.shape.iter().rev() {
                out.write_all(&(d as u64).to_le_bytes())?;
            }
            out.write_all(&ggml_type_code(t.dtype).to_le_bytes())?;
            out.write_all(&offset.to_le_bytes())?;
            offset += padded(size);
        }
        let pos = out.stream_position()?;
        pad_to(&mut out, pos)?;
        Ok(Self {
            out,
            path: path.to_path_buf(),
            tensors,
            sizes,
            next: 0,
            written: 0,
        })
    }

    /// Appends the data of the next declared tensor.
    pub fn write_tensor(&mut self, t: &QTensor) -> std::io::Result<()> {
        let Some(h) = self.tensors.get(self.next) else {
            return Err(invalid("more tensors written than declared".into()));
        };
        if t.dtype() != h.dtype || t.shape().dims() != h.shape.as_slice() {
            return Err(invalid(format!(
                "tensor `{}` declared {:?} {:?}, given {:?} {:?}",
                h.name,
                h.dtype,
                h.shape,
                t.dtype(),
                t.shape().dims()
            )));
        }
        let data = t.data().map_err(|e| invalid(e.to_string()))?;
        if data.len() as u64 != self.sizes[self.next] {
            return Err(invalid(format!(
                "tensor `{}` has {} bytes, {} declared",
                h.name,
                data.len(),
                self.sizes[self.next]
            )));
        }
        self.out.write_all(&data)?;
        self.written += data.len() as u64;
        let pad = padded(data.len() as u64) - data.len() as u64;
        self.out.write_all(&vec![0u8; pad as usize])?;
        self.next += 1;
        Ok(())
    }

    /// Bytes of tensor data written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Flushes to disk; every declared tensor must have been written.
    pub fn finish(mut self) -> std::io::Result<()> {
        if self.next != self.tensors.len() {
            return Err(invalid(format!(
                "{}: {} of {} tensors written",
                self.path.display(),
                self.next,
                self.tensors.len()
            )));
        }
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }
}

fn padded(n: u64) -> u64 {
    n.div_ceil(ALIGNMENT) * ALIGNMENT
}

fn pad_to<W: Write>(w: &mut W, pos: u64) -> std::io::Result<()> {
    w.write_all(&vec![0u8; (padded(pos) - pos) as usize])
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg)
}

fn write_string<W: Write>(w: &mut W, s: &str) -> std::io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

fn value_type_code(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn write_value<W: Write>(w: &mut W, v: &Value) -> std::io::Result<()> {
    match v {
        Value::U8(x) => w.write_all(&[*x]),
        Value::I8(x) => w.write_all(&x.to_le_bytes()),
        Value::U16(x) => w.write_all(&x.to_le_bytes()),
        Value::I16(x) => w.write_all(&x.to_le_bytes()),
        Value::U32(x) => w.write_all(&x.to_le_bytes()),
        Value::I32(x) => w.write_all(&x.to_le_bytes()),
        Value::U64(x) => w.write_all(&x.to_le_bytes()),
        Value::I64(x) => w.write_all(&x.to_le_bytes()),
        Value::F32(x) => w.write_all(&x.to_le_bytes()),
        Value::F64(x) => w.write_all(&x.to_le_bytes()),
        Value::Bool(b) => w.write_all(&[u8::from(*b)]),
        Value::String(s) => write_string(w, s),
        Value::Array(items) => {
            // GGUF arrays hold one element type.
            let code = items
                .first()
                .map_or(value_type_code(&Value::U32(0)), value_type_code);
            if items.iter().any(|i| value_type_code(i) != code) {
                return Err(invalid("a GGUF array mixes element types".into()));
            }
            w.write_all(&code.to_le_bytes())?;
            w.write_all(&(items.len() as u64).to_le_bytes())?;
            for item in items {
                write_value(w, item)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::gguf_file;
    use candle_core::{Device, Tensor};

    #[test]
    fn written_file_reads_back_with_candle() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.gguf");
        let dev = Device::Cpu;
        let a = Tensor::arange(0f32, 64.0, &dev)
            .unwrap()
            .reshape((2, 32))
            .unwrap();
        let b = Tensor::arange(0f32, 3.0, &dev).unwrap();
        let qa = QTensor::quantize(&a, GgmlDType::Q8_0).unwrap();
        let qb = QTensor::quantize(&b, GgmlDType::F32).unwrap();
        let md = vec![
            (
                "general.architecture".to_string(),
                Value::String("llama".into()),
            ),
            (
                "x.list".to_string(),
                Value::Array(vec![Value::F32(1.5), Value::F32(-2.0)]),
            ),
            ("x.flag".to_string(), Value::Bool(true)),
        ];
        let headers = vec![
            TensorHeader {
                name: "a".into(),
                shape: vec![2, 32],
                dtype: GgmlDType::Q8_0,
            },
            TensorHeader {
                name: "b".into(),
                shape: vec![3],
                dtype: GgmlDType::F32,
            },
        ];
        let mut w = GgufWriter::create(&p, &md, headers).unwrap();
        // Out of order is refused.
        assert!(w.write_tensor(&qb).is_err());
        w.write_tensor(&qa).unwrap();
        w.write_tensor(&qb).unwrap();
        w.finish().unwrap();

        let mut f = File::open(&p).unwrap();
        let ct = gguf_file::Content::read(&mut f).unwrap();
        assert_eq!(ct.tensor_data_offset % ALIGNMENT, 0);
        assert!(matches!(ct.metadata.get("x.flag"), Some(Value::Bool(true))));
        let list = ct.metadata["x.list"].to_vec().unwrap();
        assert_eq!(list.len(), 2);
        let ra = ct.tensor(&mut f, "a", &dev).unwrap();
        assert_eq!(ra.dtype(), GgmlDType::Q8_0);
        assert_eq!(ra.shape().dims(), &[2, 32]);
        let back: Vec<f32> = ra
            .dequantize(&dev)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!((back[63] - 63.0).abs() < 0.5, "{}", back[63]);
        let rb = ct
            .tensor(&mut f, "b", &dev)
            .unwrap()
            .dequantize(&dev)
            .unwrap();
        assert_eq!(rb.to_vec1::<f32>().unwrap(), vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn unfinished_or_misfit_tensors_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.gguf");
        let bad = vec![TensorHeader {
            name: "w".into(),
            shape: vec![2, 100],
            dtype: GgmlDType::Q4K,
        }];
        assert!(GgufWriter::create(&p, &[], bad).is_err());
        let ok = vec![TensorHeader {
            name: "w".into(),
            shape: vec![4],
            dtype: GgmlDType::F32,
        }];
        let w = GgufWriter::create(&p, &[], ok).unwrap();
        assert!(w.finish().is_err());
    }
}
