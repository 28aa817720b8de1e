//! Weights + tokenizer -> Engine. One Llama-family implementation serves
//! every supported checkpoint (GGUF, and the Index-1.9B directory layout).

mod attention;
pub mod checkpoint;
pub mod config;
pub mod convert;
pub mod device;
pub mod dir_model;
mod embedding;
mod error;
pub mod forms;
pub mod generate;
mod gguf_vocab;
mod gguf_write;
mod info;
pub mod llama;
pub mod load;
mod quant;
mod rows;
pub mod sentencepiece;
pub mod template;
pub mod tokenizer;

pub use device::DeviceKind;
pub use error::ModelError;
pub use generate::{
    GenerateError, GenerateOptions, GenerateStats, Generation, Progress, Sampling, StopReason,
};
pub use info::{inspect, read_gguf, ModelFormat, ModelInfo};
pub use llama::KvType;
pub use load::{load_engine, load_engine_fitting, Engine, LoadOptions, MemoryEstimate};
pub use template::{ChatMessage, ChatTemplate};
pub use tokenizer::{load_tokenizer, StreamDecoder, TextTokenizer};
