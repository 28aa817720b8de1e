//! An OpenAI-compatible chat server as an engine (llama.cpp's `llama-server`,
//! vLLM, SGLang, Ollama, LM Studio): server settings -> connected `Server`,
//! chat turns -> streamed text, texts -> token counts.
//!
//! Privacy: this module is the only place ReportLens opens a socket, and only
//! to the configured base URL (no proxy from the environment, no redirects).
//! The API key is sent as a bearer token and never written to a log or an error.
mod error;
mod sse;

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use error::RemoteError;
use sse::{Event, SseLines};

/// Where the server is and which model to ask for.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ServerConfig {
    /// e.g. `http://127.0.0.1:8080` (a trailing `/v1` is accepted).
    pub url: String,
    /// The model name the server serves (`GET /v1/models` lists them).
    pub model: String,
    /// Sent as `Authorization: Bearer ...`; never shown or logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

// The key stays out of debug output (and so out of logs and panics).
impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl ServerConfig {
    /// The server's root (`http://host:port`), without `/v1` or a trailing slash.
    pub fn root(&self) -> String {
        let u = self.url.trim().trim_end_matches('/');
        u.strip_suffix("/v1").unwrap_or(u).to_string()
    }

    /// Refuses what cannot be a server before any request: no model name, a
    /// URL that is not http(s).
    pub fn validate(&self) -> Result<(), RemoteError> {
        if self.model.trim().is_empty() {
            return Err(RemoteError::NoModelName);
        }
        let url = self.root();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(RemoteError::BadUrl { url });
        }
        Ok(())
    }
}

/// How long connecting may take: a server on the LAN answers in milliseconds;
/// a wrong address should fail fast, not hang the job.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a short request (models, tokenize) may take in all.
const SHORT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a stream in flight looks at its cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(20);

/// What a connected server offers.
#[derive(Debug, Clone)]
pub struct Server {
    config: ServerConfig,
    /// For the short requests (models, props, tokenize): one agent keeps its
    /// connection alive, so counting a report's blocks is not one TCP
    /// handshake per block.
    short: ureq::Agent,
    /// The context the server gives one request, in tokens (when it says).
    context_length: Option<usize>,
    /// Whether `POST /tokenize` works (llama-server and vLLM have it).
    can_tokenize: bool,
}

/// Sampling for one chat turn: greedy, with llama.cpp's repetition penalty.
#[derive(Debug, Clone, Copy)]
pub struct ChatOptions {
    pub max_tokens: usize,
    pub repetition_penalty: f32,
    /// The penalty's window in tokens (llama.cpp's `repeat_last_n`).
    pub repeat_last_n: usize,
}

/// Prefill and decode times as a server measured them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerTimes {
    pub prompt_tokens: usize,
    pub prefill: Duration,
    pub generated_tokens: usize,
    pub decode: Duration,
}

/// Why a streamed answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model ended its answer.
    Stop,
    /// `max_tokens` reached.
    Length,
    Cancelled,
}

/// A streamed answer and what it cost, as far as the server says.
#[derive(Debug, Clone)]
pub struct Answer {
    pub text: String,
    pub finish: Finish,
    pub prompt_tokens: Option<usize>,
    pub completion_tokens: Option<usize>,
    /// Time to the first piece of text (the server's prefill, plus the network).
    pub first_text_after: Option<Duration>,
    /// The server's own prefill and decode times, where it reports them
    /// (llama-server's `timings`).
    pub server_times: Option<ServerTimes>,
    pub elapsed: Duration,
}

impl Server {
    /// Checks the server answers, serves `config.model` and how it counts tokens.
    pub fn connect(config: ServerConfig) -> Result<Server, RemoteError> {
        config.validate()?;
        let mut server = Server {
            config,
            short: agent(Some(SHORT_REQUEST_TIMEOUT)),
            context_length: None,
            can_tokenize: false,
        };
        let models = server.get_json("/v1/models")?;
        let listed: Vec<&Value> = models["data"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let ids: Vec<String> = listed
            .iter()
            .filter_map(|m| m["id"].as_str().map(str::to_string))
            .collect();
        // A server that lists models must list ours; one that lists none (some
        // proxies) is taken at its word and fails later if it must.
        let ours = listed
            .iter()
            .find(|m| m["id"].as_str() == Some(server.config.model.as_str()));
        if !ids.is_empty() && ours.is_none() {
            return Err(RemoteError::UnknownModel {
                url: server.config.root(),
                model: server.config.model.clone(),
                served: ids,
            });
        }
        // vLLM says `max_model_len`; llama-server `meta.n_ctx_train` here and
        // the slot's `n_ctx` in `/props` (what a request really gets).
        server.context_length = ours
            .and_then(|m| m["max_model_len"].as_u64())
            .map(|n| n as usize);
        if server.context_length.is_none() {
            server.context_length = server
                .get_json("/props")
                .ok()
                .and_then(|p| p["default_generation_settings"]["n_ctx"].as_u64())
                .map(|n| n as usize);
        }
        server.can_tokenize = server.count("ReportLens").is_ok();
        Ok(server)
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Tokens one request may hold, prompt and answer together, when known.
    pub fn context_length(&self) -> Option<usize> {
        self.context_length
    }

    /// Whether the server counts tokens itself (else counts are approximate).
    pub fn can_tokenize(&self) -> bool {
        self.can_tokenize
    }

    /// How many tokens `text` is for the server's model (`POST /tokenize`).
    pub fn count(&self, text: &str) -> Result<usize, RemoteError> {
        // llama-server reads `content`, vLLM `prompt` (and needs `model`).
        let body = json!({
            "content": text,
            "prompt": text,
            "model": self.config.model,
            "add_special": false,
        });
        let v = self.post_json("/tokenize", &body)?;
        v["count"]
            .as_u64()
            .map(|n| n as usize)
            .or_else(|| v["tokens"].as_array().map(Vec::len))
            .ok_or_else(|| RemoteError::BadReply {
                url: self.config.root(),
                detail: "its /tokenize answer has no tokens".into(),
            })
    }

    /// One chat turn, streamed: each piece of text goes to `on_text` as it
    /// arrives. Setting `cancel` closes the stream within a few milliseconds.
    pub fn chat(
        &self,
        system: &str,
        user: &str,
        opts: &ChatOptions,
        cancel: &Arc<AtomicBool>,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Answer, RemoteError> {
        let body = json!({
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": opts.max_tokens,
            "temperature": 0.0,
            "top_p": 1.0,
            "seed": 0,
            // Not in OpenAI's API: llama.cpp's and vLLM's names for the same penalty.
            "repeat_penalty": opts.repetition_penalty,
            "repeat_last_n": opts.repeat_last_n,
            "repetition_penalty": opts.repetition_penalty,
        });
        let started = Instant::now();
        // One agent per stream: shutting it down (on cancel) closes this
        // stream's connection and no other.
        let agent = agent(None);
        let watcher = CancelWatcher::start(agent.clone(), cancel.clone());
        let result = self.stream(&agent, &body, started, cancel, on_text);
        watcher.stop();
        match result {
            Err(_) if cancel.load(Ordering::Relaxed) => Ok(Answer {
                text: String::new(),
                finish: Finish::Cancelled,
                prompt_tokens: None,
                completion_tokens: None,
                first_text_after: None,
                server_times: None,
                elapsed: started.elapsed(),
            }),
            other => other,
        }
    }

    fn stream(
        &self,
        agent: &ureq::Agent,
        body: &Value,
        started: Instant,
        cancel: &Arc<AtomicBool>,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Answer, RemoteError> {
        let url = format!("{}/v1/chat/completions", self.config.root());
        let resp = self
            .authorised(agent.post(&url))
            .header("Accept", "text/event-stream")
            .send_json(body)
            .map_err(|e| self.transport(e))?;
        let resp = self.check_status(resp)?;
        let reader = BufReader::new(resp.into_body().into_reader());
        let mut answer = Answer {
            text: String::new(),
            finish: Finish::Length,
            prompt_tokens: None,
            completion_tokens: None,
            first_text_after: None,
            server_times: None,
            elapsed: Duration::ZERO,
        };
        let mut finished = false;
        for event in SseLines::new(reader.lines()) {
            let event = event.map_err(|e| {
                if cancel.load(Ordering::Relaxed) {
                    RemoteError::Cancelled
                } else {
                    RemoteError::StreamCut {
                        url: self.config.root(),
                        detail: e.to_string(),
                    }
                }
            })?;
            match event {
                Event::Done => {
                    finished = true;
                    break;
                }
                Event::Data(v) => {
                    if let Some(err) = v.get("error") {
                        return Err(error::from_body(&self.config.root(), 500, err));
                    }
                    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                        answer.prompt_tokens = u["prompt_tokens"].as_u64().map(|n| n as usize);
                        answer.completion_tokens =
                            u["completion_tokens"].as_u64().map(|n| n as usize);
                    }
                    if let Some(t) = v.get("timings").filter(|t| t.is_object()) {
                        answer.server_times = server_times(t);
                    }
                    let Some(choice) = v["choices"].get(0) else {
                        continue;
                    };
                    if let Some(piece) = choice["delta"]["content"].as_str() {
                        if !piece.is_empty() {
                            answer.first_text_after.get_or_insert(started.elapsed());
                            answer.text.push_str(piece);
                            on_text(piece);
                        }
                    }
                    match choice["finish_reason"].as_str() {
                        Some("length") => answer.finish = Finish::Length,
                        Some(_) => answer.finish = Finish::Stop,
                        None => {}
                    }
                }
            }
        }
        if !finished {
            return Err(if cancel.load(Ordering::Relaxed) {
                RemoteError::Cancelled
            } else {
                RemoteError::StreamCut {
                    url: self.config.root(),
                    detail: "the stream ended before its [DONE]".into(),
                }
            });
        }
        answer.elapsed = started.elapsed();
        Ok(answer)
    }

    fn get_json(&self, path: &str) -> Result<Value, RemoteError> {
        let url = format!("{}{path}", self.config.root());
        let resp = self
            .authorised(self.short.get(&url))
            .call()
            .map_err(|e| self.transport(e))?;
        self.read_json(self.check_status(resp)?)
    }

    fn post_json(&self, path: &str, body: &Value) -> Result<Value, RemoteError> {
        let url = format!("{}{path}", self.config.root());
        let resp = self
            .authorised(self.short.post(&url))
            .send_json(body)
            .map_err(|e| self.transport(e))?;
        self.read_json(self.check_status(resp)?)
    }

    fn read_json(&self, mut resp: ureq::http::Response<ureq::Body>) -> Result<Value, RemoteError> {
        resp.body_mut()
            .read_json()
            .map_err(|e| RemoteError::BadReply {
                url: self.config.root(),
                detail: format!("not JSON ({e})"),
            })
    }

    fn authorised<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.config.api_key {
            Some(k) if !k.is_empty() => req.header("Authorization", format!("Bearer {k}")),
            _ => req,
        }
    }

    /// A non-2xx answer as the error it means.
    fn check_status(
        &self,
        mut resp: ureq::http::Response<ureq::Body>,
    ) -> Result<ureq::http::Response<ureq::Body>, RemoteError> {
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let detail = body.get("error").unwrap_or(&body);
        Err(error::from_body(&self.config.root(), status, detail))
    }

    fn transport(&self, e: ureq::Error) -> RemoteError {
        RemoteError::Unreachable {
            url: self.config.root(),
            detail: e.to_string(),
        }
    }
}

/// llama-server's `timings` object (milliseconds and token counts).
fn server_times(t: &Value) -> Option<ServerTimes> {
    let ms = |k: &str| {
        t[k].as_f64()
            .map(|m| Duration::from_secs_f64(m.max(0.0) / 1000.0))
    };
    Some(ServerTimes {
        prompt_tokens: t["prompt_n"].as_u64()? as usize,
        prefill: ms("prompt_ms")?,
        generated_tokens: t["predicted_n"].as_u64()? as usize,
        decode: ms("predicted_ms")?,
    })
}

/// An HTTP agent that goes only where it is sent: no proxy from the
/// environment, no redirects, HTTP errors handled here.
fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(timeout)
        .build()
        .into()
}

/// Shuts a stream's agent down once its job is cancelled, so a read blocked
/// on a server still prefilling returns at once (and the server sees the
/// connection close and stops).
struct CancelWatcher {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CancelWatcher {
    fn start(agent: ureq::Agent, cancel: Arc<AtomicBool>) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let thread = std::thread::Builder::new()
            .name("reportlens-stream-cancel".into())
            .spawn(move || {
                while !d.load(Ordering::Relaxed) {
                    if cancel.load(Ordering::Relaxed) {
                        agent.shutdown();
                        return;
                    }
                    std::thread::sleep(CANCEL_POLL);
                }
            })
            .ok();
        CancelWatcher { done, thread }
    }

    fn stop(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
