//! The weight files of a model directory: safetensors (one file, or shards
//! listed in `model.safetensors.index.json`) or PyTorch zip pickles
//! (`pytorch_model.bin`, or shards in `pytorch_model.bin.index.json`).
//!
//! Opening reads only headers and checks that every file holds the bytes its
//! header promises, so a truncated download is refused before any weight is
//! read. Tensors are then read one at a time, in their stored dtype, on the
//! CPU: the caller converts and moves each before reading the next, so the
//! 4.35 GB Index checkpoint is never held twice.
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::pickle::PthTensors;
use candle_core::{DType, Device, Tensor};
use serde_json::Value;

use super::ModelError;

const SAFETENSORS: &str = "model.safetensors";
const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
const PYTORCH: &str = "pytorch_model.bin";
const PYTORCH_INDEX: &str = "pytorch_model.bin.index.json";
/// A safetensors JSON header larger than this is not a real header.
const MAX_HEADER: u64 = 100 * 1024 * 1024;

/// Where one tensor lives.
#[derive(Debug, Clone)]
pub struct TensorEntry {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Index into the checkpoint's files.
    file: usize,
    /// Safetensors: absolute byte range in the file.
    range: Option<(u64, u64)>,
}

impl TensorEntry {
    pub fn elem_count(&self) -> usize {
        self.shape.iter().product()
    }
}

enum Shard {
    Safetensors { path: PathBuf },
    Pytorch { path: PathBuf, tensors: PthTensors },
}

impl Shard {
    fn path(&self) -> &Path {
        match self {
            Shard::Safetensors { path } | Shard::Pytorch { path, .. } => path,
        }
    }
}

/// Every tensor of a checkpoint, by its Hugging Face name.
pub struct Checkpoint {
    shards: Vec<Shard>,
    entries: HashMap<String, TensorEntry>,
    /// The directory, for messages about a missing tensor.
    dir: PathBuf,
}

impl Checkpoint {
    /// Find and check the weight files of `dir`.
    pub fn open(dir: &Path) -> Result<Self, ModelError> {
        let mut ckpt = Checkpoint {
            shards: Vec::new(),
            entries: HashMap::new(),
            dir: dir.to_path_buf(),
        };
        let st_index = dir.join(SAFETENSORS_INDEX);
        let pt_index = dir.join(PYTORCH_INDEX);
        if st_index.is_file() {
            let map = read_index(&st_index)?;
            for shard in shard_names(&map) {
                ckpt.add_safetensors(&dir.join(shard))?;
            }
            ckpt.check_index(&st_index, &map)?;
        } else if dir.join(SAFETENSORS).is_file() {
            ckpt.add_safetensors(&dir.join(SAFETENSORS))?;
        } else if pt_index.is_file() {
            let map = read_index(&pt_index)?;
            for shard in shard_names(&map) {
                ckpt.add_pytorch(&dir.join(shard))?;
            }
            ckpt.check_index(&pt_index, &map)?;
        } else if dir.join(PYTORCH).is_file() {
            ckpt.add_pytorch(&dir.join(PYTORCH))?;
        } else {
            return Err(ModelError::Unsupported {
                path: dir.to_path_buf(),
                reason: format!(
                    "no weights in the model directory (looked for {SAFETENSORS}, \
                     {SAFETENSORS_INDEX}, {PYTORCH} and {PYTORCH_INDEX})"
                ),
            });
        }
        Ok(ckpt)
    }

    pub fn entry(&self, name: &str) -> Option<&TensorEntry> {
        self.entries.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The file that holds `name` (for messages).
    pub fn file_of(&self, name: &str) -> PathBuf {
        match self.entries.get(name) {
            Some(e) => self.shards[e.file].path().to_path_buf(),
            None => self.dir.clone(),
        }
    }

    /// Checks that `name` exists with `shape`; the error names the file.
    pub fn expect(&self, name: &str, shape: &[usize]) -> Result<&TensorEntry, ModelError> {
        let entry = self.entries.get(name).ok_or_else(|| ModelError::Corrupt {
            path: self.dir.clone(),
            reason: format!("the checkpoint has no tensor `{name}`"),
        })?;
        if entry.shape != shape {
            return Err(ModelError::Corrupt {
                path: self.file_of(name),
                reason: format!(
                    "tensor `{name}` has shape {:?}, config.json implies {shape:?}",
                    entry.shape
                ),
            });
        }
        Ok(entry)
    }

    /// Reads one tensor in its stored dtype onto the CPU.
    pub fn read(&self, name: &str) -> Result<Tensor, ModelError> {
        let entry = self.entries.get(name).ok_or_else(|| ModelError::Corrupt {
            path: self.dir.clone(),
            reason: format!("the checkpoint has no tensor `{name}`"),
        })?;
        let shard = &self.shards[entry.file];
        let fail = |reason: String| ModelError::Corrupt {
            path: shard.path().to_path_buf(),
            reason: format!("cannot read tensor `{name}`: {reason}"),
        };
        let t = match shard {
            Shard::Safetensors { path } => {
                let (start, end) = entry.range.unwrap_or((0, 0));
                let mut buf = vec![0u8; (end - start) as usize];
                let mut f = File::open(path).map_err(|e| io(path, e))?;
                f.seek(SeekFrom::Start(start)).map_err(|e| io(path, e))?;
                f.read_exact(&mut buf).map_err(|e| fail(e.to_string()))?;
                Tensor::from_raw_buffer(&buf, entry.dtype, &entry.shape, &Device::Cpu)
                    .map_err(|e| fail(e.to_string()))?
            }
            Shard::Pytorch { tensors, .. } => tensors
                .get(name)
                .map_err(|e| fail(e.to_string()))?
                .ok_or_else(|| fail("not in the pickle".into()))?,
        };
        if t.dims() != entry.shape.as_slice() {
            return Err(fail(format!(
                "read shape {:?}, header says {:?}",
                t.dims(),
                entry.shape
            )));
        }
        Ok(t)
    }

    /// Every tensor the index lists is in the shard it names.
    fn check_index(&self, index: &Path, map: &[(String, String)]) -> Result<(), ModelError> {
        for (name, file) in map {
            let found = self
                .entries
                .get(name)
                .map(|e| self.shards[e.file].path().file_name());
            let want = Some(std::ffi::OsStr::new(file.as_str()));
            if found != Some(want) {
                return Err(ModelError::Corrupt {
                    path: index.to_path_buf(),
                    reason: format!("lists tensor `{name}` in {file}, but it is not there"),
                });
            }
        }
        Ok(())
    }

    fn insert(&mut self, name: String, entry: TensorEntry) -> Result<(), ModelError> {
        if let Some(prev) = self.entries.get(&name) {
            return Err(ModelError::Corrupt {
                path: self.shards[entry.file].path().to_path_buf(),
                reason: format!(
                    "tensor `{name}` is also in {}",
                    self.shards[prev.file].path().display()
                ),
            });
        }
        self.entries.insert(name, entry);
        Ok(())
    }

    fn add_safetensors(&mut self, path: &Path) -> Result<(), ModelError> {
        let corrupt = |reason: String| ModelError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let mut f = File::open(path).map_err(|e| io(path, e))?;
        let file_len = f.metadata().map_err(|e| io(path, e))?.len();
        let mut len = [0u8; 8];
        f.read_exact(&mut len)
            .map_err(|_| corrupt(format!("only {file_len} bytes: not a safetensors file")))?;
        let header_len = u64::from_le_bytes(len);
        if header_len > MAX_HEADER || header_len > file_len - 8 {
            return Err(corrupt(format!(
                "truncated or not a safetensors file: its header claims {header_len} bytes, \
                 the file has {file_len}"
            )));
        }
        let mut header = vec![0u8; header_len as usize];
        f.read_exact(&mut header)
            .map_err(|e| corrupt(format!("cannot read the header: {e}")))?;
        let header: HashMap<String, Value> = serde_json::from_slice(&header)
            .map_err(|e| corrupt(format!("the safetensors header is not valid JSON: {e}")))?;
        let data_start = 8 + header_len;
        let file = self.shards.len();
        self.shards.push(Shard::Safetensors {
            path: path.to_path_buf(),
        });
        let mut needed = data_start;
        for (name, info) in header {
            if name == "__metadata__" {
                continue;
            }
            let bad = |what: &str| corrupt(format!("tensor `{name}`: {what}"));
            let dtype = match info.get("dtype").and_then(Value::as_str) {
                Some("F32") => DType::F32,
                Some("F16") => DType::F16,
                Some("BF16") => DType::BF16,
                Some("F64") => DType::F64,
                Some(other) => {
                    return Err(ModelError::Unsupported {
                        path: path.to_path_buf(),
                        reason: format!(
                            "tensor `{name}` is {other}; only F32, F16 and BF16 weights are read \
                             (for a quantized model use a GGUF)"
                        ),
                    })
                }
                None => return Err(bad("no dtype")),
            };
            let shape: Vec<usize> = info
                .get("shape")
                .and_then(Value::as_array)
                .and_then(|a| {
                    a.iter()
                        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| bad("no valid shape"))?;
            let offsets = info
                .get("data_offsets")
                .and_then(Value::as_array)
                .and_then(|a| Some((a.first()?.as_u64()?, a.get(1)?.as_u64()?)))
                .ok_or_else(|| bad("no valid data_offsets"))?;
            let bytes = shape
                .iter()
                .try_fold(dtype.size_in_bytes() as u64, |acc, &d| {
                    acc.checked_mul(d as u64)
                })
                .ok_or_else(|| bad("impossible size"))?;
            if offsets.1 < offsets.0 || offsets.1 - offsets.0 != bytes {
                return Err(bad(&format!(
                    "data_offsets {offsets:?} do not hold {bytes} bytes for shape {shape:?}"
                )));
            }
            let range = (data_start + offsets.0, data_start + offsets.1);
            needed = needed.max(range.1);
            self.insert(
                name,
                TensorEntry {
                    dtype,
                    shape,
                    file,
                    range: Some(range),
                },
            )?;
        }
        if file_len < needed {
            return Err(corrupt(format!(
                "truncated: its tensors need {needed} bytes but the file has {file_len} \
                 (download it again)"
            )));
        }
        Ok(())
    }

    fn add_pytorch(&mut self, path: &Path) -> Result<(), ModelError> {
        let corrupt = |reason: String| ModelError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(|e| io(path, e))?;
        let file_len = file.metadata().map_err(|e| io(path, e))?.len();
        let mut head = [0u8; 2];
        let got = (&file).take(2).read(&mut head).unwrap_or(0);
        if got < 2 || &head != b"PK" {
            let reason = if head[0] == 0x80 {
                "a legacy (pre-zip) PyTorch pickle; re-save it with torch.save or as safetensors"
                    .to_string()
            } else {
                format!("not a PyTorch zip checkpoint ({file_len} bytes)")
            };
            return Err(ModelError::Unsupported {
                path: path.to_path_buf(),
                reason,
            });
        }
        // The zip directory is at the end: a cut download fails right here.
        let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| {
            corrupt(format!(
                "truncated or damaged PyTorch checkpoint ({file_len} bytes; {e}); download it again"
            ))
        })?;
        // candle prints and skips entries it cannot decode; a checkpoint
        // with none it can decode is refused below.
        let tensors = std::panic::catch_unwind(|| PthTensors::new(path, None))
            .map_err(|_| corrupt("the pickle is malformed".into()))?
            .map_err(|e| corrupt(format!("cannot read the pickle: {e}")))?;
        if tensors.tensor_infos().is_empty() {
            return Err(corrupt("the pickle holds no tensors".into()));
        }
        let idx = self.shards.len();
        let mut found = Vec::new();
        for (name, info) in tensors.tensor_infos() {
            // The storage record must hold every byte the view reaches.
            let elems = info.layout.shape().elem_count();
            let need =
                info.layout.start_offset() as u64 + (elems * info.dtype.size_in_bytes()) as u64;
            let have = zip
                .by_name(&info.path)
                .map(|f| f.size())
                .map_err(|e| corrupt(format!("tensor `{name}`: storage `{}`: {e}", info.path)))?;
            if have < need {
                return Err(corrupt(format!(
                    "tensor `{name}` needs {need} bytes of storage `{}` but it has {have}",
                    info.path
                )));
            }
            if !matches!(
                info.dtype,
                DType::F32 | DType::F16 | DType::BF16 | DType::F64
            ) {
                return Err(ModelError::Unsupported {
                    path: path.to_path_buf(),
                    reason: format!(
                        "tensor `{name}` is {:?}; only float weights are read",
                        info.dtype
                    ),
                });
            }
            found.push((
                name.clone(),
                TensorEntry {
                    dtype: info.dtype,
                    shape: info.layout.shape().dims().to_vec(),
                    file: idx,
                    range: None,
                },
            ));
        }
        self.shards.push(Shard::Pytorch {
            path: path.to_path_buf(),
            tensors,
        });
        for (name, entry) in found {
            self.insert(name, entry)?;
        }
        Ok(())
    }
}

/// `(tensor, shard file)` pairs of an `*.index.json` `weight_map`.
fn read_index(path: &Path) -> Result<Vec<(String, String)>, ModelError> {
    let corrupt = |reason: String| ModelError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| corrupt(format!("not valid JSON: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| corrupt("no `weight_map`".into()))?;
    let mut out = Vec::with_capacity(map.len());
    for (name, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| corrupt(format!("`weight_map` entry of `{name}` is not a file name")))?;
        // A shard is a plain file beside the index, never a path out of it.
        if file.is_empty() || file.contains('/') || file.contains('\\') || file == ".." {
            return Err(corrupt(format!(
                "shard name `{file}` is not a plain file name"
            )));
        }
        out.push((name.clone(), file.to_string()));
    }
    if out.is_empty() {
        return Err(corrupt("`weight_map` is empty".into()));
    }
    Ok(out)
}

/// The distinct shard files of an index, sorted.
fn shard_names(map: &[(String, String)]) -> Vec<&str> {
    let mut names: Vec<&str> = map.iter().map(|(_, f)| f.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn io(path: &Path, source: std::io::Error) -> ModelError {
    if source.kind() == std::io::ErrorKind::NotFound {
        ModelError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        ModelError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
