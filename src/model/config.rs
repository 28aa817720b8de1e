//! `config.json` of a Hugging Face style model directory -> `LlamaConfig`.
//!
//! Two model types share the Llama decoder: `llama` and bilibili's `index`
//! (Index-1.9B). Index differs in two ways that break output silently when
//! missed: `norm_head` (each row of `lm_head.weight` is scaled to unit L2
//! norm) and the RoPE base, which its 32K model gives as `rope_ratio` (base
//! `10000 * rope_ratio`) with no `rope_theta` at all.
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::llama::{LlamaConfig, RopeStyle};
use super::ModelError;

/// The model types this loader reads.
pub const SUPPORTED_MODEL_TYPES: [&str; 2] = ["index", "llama"];

/// What `config.json` says about the checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct DirConfig {
    /// `index` or `llama`.
    pub model_type: String,
    /// The decoder's shape; RoPE in the Hugging Face (half-split) layout.
    pub llama: LlamaConfig,
    /// Index `norm_head`: unit-norm rows of `lm_head.weight`.
    pub norm_head: bool,
    /// No `lm_head.weight`: the embedding doubles as the output head.
    pub tie_word_embeddings: bool,
    /// Special ids from the config, where given.
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
    /// `torch_dtype` as written (`bfloat16` for Index), for messages only.
    pub torch_dtype: Option<String>,
    /// The config file, for error messages.
    pub path: PathBuf,
}

impl DirConfig {
    pub fn is_index(&self) -> bool {
        self.model_type == "index"
    }
}

/// Read and check `dir/config.json`.
pub fn read_dir_config(dir: &Path) -> Result<DirConfig, ModelError> {
    let path = dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ModelError::Unsupported {
                path: dir.to_path_buf(),
                reason: "a model directory needs a config.json (or pass a .gguf file)".into(),
            })
        }
        Err(source) => return Err(ModelError::Io { path, source }),
    };
    let json: Value = serde_json::from_str(&text).map_err(|e| ModelError::Corrupt {
        path: path.clone(),
        reason: format!("config.json is not valid JSON: {e}"),
    })?;
    parse_config(&json, &path)
}

/// Check a parsed `config.json` (`path` names it in errors).
pub fn parse_config(json: &Value, path: &Path) -> Result<DirConfig, ModelError> {
    let c = Fields { json, path };
    let model_type = c
        .string("model_type")?
        .ok_or_else(|| c.unsupported("config.json has no `model_type`"))?;
    if !SUPPORTED_MODEL_TYPES.contains(&model_type.as_str()) {
        return Err(c.unsupported(format!(
            "model_type `{model_type}` is not supported (ReportLens reads {} checkpoints; \
             for other models use a Llama-architecture GGUF)",
            SUPPORTED_MODEL_TYPES.join(" and ")
        )));
    }
    let is_index = model_type == "index";

    let hidden_size = c.required_uint("hidden_size")?;
    let num_heads = c.required_uint("num_attention_heads")?;
    let num_kv_heads = c.uint("num_key_value_heads")?.unwrap_or(num_heads);
    let head_dim = match c.uint("head_dim")? {
        Some(d) => d,
        None if num_heads > 0 && hidden_size.is_multiple_of(num_heads) => hidden_size / num_heads,
        None => {
            return Err(c.corrupt(format!(
                "hidden_size {hidden_size} is not a multiple of num_attention_heads {num_heads}"
            )))
        }
    };

    if let Some(act) = c.string("hidden_act")? {
        if act != "silu" {
            return Err(c.unsupported(format!(
                "hidden_act `{act}` is not supported (Llama-family models use silu)"
            )));
        }
    }
    for key in ["attention_bias", "mlp_bias"] {
        if c.bool(key)?.unwrap_or(false) {
            return Err(c.unsupported(format!("`{key}: true` is not supported")));
        }
    }
    if let Some(scaling) = json.get("rope_scaling").filter(|v| !v.is_null()) {
        let kind = scaling
            .get("rope_type")
            .or_else(|| scaling.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        return Err(c.unsupported(format!(
            "rope_scaling `{kind}` is not supported (ReportLens offers dynamic NTK as a run option)"
        )));
    }

    let rope_theta = c.float("rope_theta")?;
    let rope_ratio = c.float("rope_ratio")?;
    let rope_theta = if is_index {
        // Index: base = rope_theta (default 10000) * rope_ratio (default 1).
        // The 32K model has only `rope_ratio: 32`; dropping it would run a
        // 320000-base model at 10000 and quietly ruin long prompts.
        rope_theta.unwrap_or(10_000.0) * rope_ratio.unwrap_or(1.0)
    } else {
        if rope_ratio.is_some() {
            return Err(c.unsupported(
                "`rope_ratio` in a `llama` config has no defined meaning; \
                 set `rope_theta` instead",
            ));
        }
        rope_theta.unwrap_or(10_000.0)
    };

    let llama = LlamaConfig {
        vocab_size: c.required_uint("vocab_size")?,
        hidden_size,
        intermediate_size: c.required_uint("intermediate_size")?,
        num_layers: c.required_uint("num_hidden_layers")?,
        num_heads,
        num_kv_heads,
        head_dim,
        rope_dim: head_dim,
        rope_theta,
        rope_style: RopeStyle::Half,
        // transformers' default for both Llama and Index.
        rms_norm_eps: c.float("rms_norm_eps")?.unwrap_or(1e-6),
        context_length: c.required_uint("max_position_embeddings")?,
    };
    llama.validate().map_err(|r| c.corrupt(r))?;
    let norm_head = match json.get("norm_head") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => v
            .as_i64()
            .map(|n| n != 0)
            .ok_or_else(|| c.corrupt("`norm_head` should be a boolean or 0/1"))?,
    };
    if norm_head && !is_index {
        return Err(c.unsupported("`norm_head` is only defined for Index checkpoints"));
    }
    Ok(DirConfig {
        model_type,
        llama,
        norm_head,
        tie_word_embeddings: c.bool("tie_word_embeddings")?.unwrap_or(false),
        bos_token_id: c.token_id("bos_token_id"),
        eos_token_id: c.token_id("eos_token_id"),
        torch_dtype: c.string("torch_dtype")?,
        path: path.to_path_buf(),
    })
}

/// Typed access to config keys; errors name the file and the key.
struct Fields<'a> {
    json: &'a Value,
    path: &'a Path,
}

impl Fields<'_> {
    fn unsupported(&self, reason: impl Into<String>) -> ModelError {
        ModelError::Unsupported {
            path: self.path.to_path_buf(),
            reason: reason.into(),
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> ModelError {
        ModelError::Corrupt {
            path: self.path.to_path_buf(),
            reason: reason.into(),
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.json.get(key).filter(|v| !v.is_null())
    }

    fn uint(&self, key: &str) -> Result<Option<usize>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.corrupt(format!("`{key}` should be a whole number, not {v}"))),
        }
    }

    fn required_uint(&self, key: &str) -> Result<usize, ModelError> {
        match self.uint(key)? {
            Some(n) if n > 0 => Ok(n),
            Some(_) => Err(self.corrupt(format!("`{key}` is 0"))),
            None => Err(self.corrupt(format!("config.json has no `{key}`"))),
        }
    }

    fn float(&self, key: &str) -> Result<Option<f64>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| self.corrupt(format!("`{key}` should be a number, not {v}"))),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.corrupt(format!("`{key}` should be true or false, not {v}"))),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.corrupt(format!("`{key}` should be a string, not {v}"))),
        }
    }

    /// A token id, or the first of a list (`eos_token_id: [2, 7]`).
    fn token_id(&self, key: &str) -> Option<u32> {
        let v = self.get(key)?;
        let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
        v.as_u64().and_then(|n| u32::try_from(n).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn index_32k() -> Value {
        // The published Index-1.9B-32K config.json, less keys that do not matter here.
        json!({
            "architectures": ["IndexForCausalLM"],
            "model_type": "index",
            "hidden_size": 2048,
            "intermediate_size": 5888,
            "num_hidden_layers": 36,
            "num_attention_heads": 16,
            "num_key_value_heads": 16,
            "vocab_size": 65029,
            "rms_norm_eps": 1e-6,
            "max_position_embeddings": 32768,
            "norm_head": 1,
            "rope_ratio": 32,
            "hidden_act": "silu",
            "tie_word_embeddings": false,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "torch_dtype": "bfloat16"
        })
    }

    fn parse(v: &Value) -> Result<DirConfig, ModelError> {
        parse_config(v, Path::new("/m/config.json"))
    }

    #[test]
    fn index_32k_config() {
        let c = parse(&index_32k()).unwrap();
        assert!(c.is_index() && c.norm_head && !c.tie_word_embeddings);
        let l = &c.llama;
        assert_eq!(l.rope_theta, 320_000.0, "10000 * rope_ratio 32");
        assert_eq!((l.head_dim, l.rope_dim, l.num_kv_heads), (128, 128, 16));
        assert_eq!(l.context_length, 32768);
        assert_eq!(l.rope_style, RopeStyle::Half);
        assert_eq!(l.kv_bytes_per_token(crate::model::KvType::F16), 288 * 1024);
        // q8_0: 34 bytes per 32 values, 17/32 of f16.
        assert_eq!(
            l.kv_bytes_per_token(crate::model::KvType::Q8_0),
            288 * 1024 / 32 * 17
        );
        assert_eq!((c.bos_token_id, c.eos_token_id), (Some(1), Some(2)));
    }

    #[test]
    fn index_rope_theta_times_ratio_and_defaults() {
        let mut v = index_32k();
        v["rope_theta"] = json!(20000.0);
        assert_eq!(parse(&v).unwrap().llama.rope_theta, 640_000.0);
        // Index-1.9B (4K): neither key, base 10000 as its modeling code.
        let mut v = index_32k();
        v.as_object_mut().unwrap().remove("rope_ratio");
        assert_eq!(parse(&v).unwrap().llama.rope_theta, 10_000.0);
    }

    #[test]
    fn llama_config_and_its_defaults() {
        let v = json!({
            "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
            "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
            "vocab_size": 49152, "max_position_embeddings": 8192, "rope_theta": 100000.0,
            "rms_norm_eps": 1e-5, "tie_word_embeddings": true
        });
        let c = parse(&v).unwrap();
        assert_eq!(c.llama.rope_theta, 100_000.0);
        assert_eq!(c.llama.head_dim, 64);
        assert!(c.tie_word_embeddings && !c.norm_head);
        let mut v = v;
        v["rope_ratio"] = json!(4);
        assert!(matches!(parse(&v), Err(ModelError::Unsupported { .. })));
    }

    #[test]
    fn refusals_name_the_file_and_the_reason() {
        let mut v = index_32k();
        v["model_type"] = json!("qwen2");
        let err = parse(&v).unwrap_err();
        assert!(matches!(err, ModelError::Unsupported { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("config.json") && msg.contains("qwen2"),
            "{msg}"
        );

        let mut v = index_32k();
        v.as_object_mut().unwrap().remove("hidden_size");
        let msg = parse(&v).unwrap_err().to_string();
        assert!(msg.contains("hidden_size"), "{msg}");

        let mut v = index_32k();
        v["rope_scaling"] = json!({"type": "linear", "factor": 2.0});
        let msg = parse(&v).unwrap_err().to_string();
        assert!(msg.contains("rope_scaling `linear`"), "{msg}");

        let mut v = index_32k();
        v["num_key_value_heads"] = json!(5);
        assert!(matches!(parse(&v), Err(ModelError::Corrupt { .. })));

        let mut v = index_32k();
        v["hidden_act"] = json!("gelu");
        assert!(matches!(parse(&v), Err(ModelError::Unsupported { .. })));
    }

    #[test]
    fn missing_config_json_is_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_dir_config(dir.path()).unwrap_err();
        assert!(matches!(err, ModelError::Unsupported { .. }), "{err}");
        std::fs::write(dir.path().join("config.json"), "{ nope").unwrap();
        assert!(matches!(
            read_dir_config(dir.path()),
            Err(ModelError::Corrupt { .. })
        ));
    }
}
