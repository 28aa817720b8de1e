//! The OpenAI-compatible engine against a real llama.cpp `llama-server` on
//! 127.0.0.1, started here from the build `./dev` makes from source
//! (`tools/build-llama-server`), serving the SmolLM2 test model: a batch of
//! three corpus documents, greedy text equal to the local engine's, a server
//! killed mid-job leaving a resumable job, the messages for a wrong URL
//! and a wrong model name, and privacy: under `strace`, the local engine
//! opens no socket and the remote one connects only to its server.
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reportlens::app::{BatchOptions, Core, EngineSettings, FileStatus, OutputFormat, Paths};
use reportlens::model::device::DeviceChoice;
use reportlens::model::KvType;
use reportlens::remote::ServerConfig;
use reportlens::store::JobStatus;
use reportlens::tasks::{self, JobEvent, JobOutcome, JobRequest, JobResult, ServerRef};
use reportlens::{Lang, SummaryMode, TaskSpec};

/// The name the server is started with (`--alias`); `/v1/models` lists it.
const SERVED: &str = "smollm2-test";

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(name)
}

fn llama_server() -> Option<PathBuf> {
    let p = std::env::var_os("REPORTLENS_LLAMA_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let base = std::env::var_os("REPORTLENS_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                        .join(".cache/reportlens")
                });
            base.join("llama.cpp-0.3.36/bin/llama-server")
        });
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "skipping: no llama-server at {} (tools/build-llama-server builds it; ./dev test runs it)",
            p.display()
        );
        None
    }
}

fn model() -> Option<PathBuf> {
    let p = reportlens::paths::test_model_path();
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipping: no test model (run models/fetch-test-models)");
        None
    }
}

/// The model tests take turns: two model processes on CI's two cores run
/// far slower than one after the other.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running `llama-server`, stopped when dropped.
struct LlamaServer {
    child: Child,
    url: String,
}

impl LlamaServer {
    fn start(bin: &Path, model: &Path) -> LlamaServer {
        LlamaServer::start_on(bin, model, &free_port().to_string(), 1)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(mut r) = ureq_get(&format!("{}/health", self.url)) {
                if r.status() == 200 {
                    let _ = r.body_mut().read_to_string();
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("llama-server at {} not ready in 2 minutes", self.url);
    }

    fn config(&self) -> ServerConfig {
        ServerConfig {
            url: self.url.clone(),
            model: SERVED.into(),
            api_key: None,
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn ureq_get(url: &str) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    agent().get(url).call()
}

/// An HTTP agent for the test's own requests: straight to the server.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn core(dir: &Path) -> Core {
    Core::new(Paths {
        data: dir.to_path_buf(),
        models: reportlens::paths::models_dir(),
    })
}

fn summary(model: &Path, file: &str, server: Option<&ServerConfig>) -> JobRequest {
    JobRequest {
        file: corpus(file),
        model: model.to_path_buf(),
        task: TaskSpec::Summarize {
            lang: Lang::En,
            mode: SummaryMode::Financial,
        },
        strategy: None,
        context: None,
        glossary: None,
        server: server.map(ServerRef::of),
    }
}

fn on_server(cfg: &ServerConfig) -> EngineSettings {
    EngineSettings {
        device: DeviceChoice::Cpu,
        kv: KvType::F16,
        server: Some(cfg.clone()),
        answers_at_once: 1,
    }
}

fn local() -> EngineSettings {
    EngineSettings {
        device: DeviceChoice::Cpu,
        kv: KvType::F16,
        server: None,
        answers_at_once: 1,
    }
}

fn run(core: &Core, req: &JobRequest, engine: &EngineSettings) -> (JobOutcome, Vec<JobEvent>) {
    let id = tasks::submit(&mut core.store().unwrap(), req).unwrap();
    let mut events = Vec::new();
    let out = core
        .run_job(id, engine, Arc::new(AtomicBool::new(false)), &mut |e| {
            events.push(e.clone())
        })
        .unwrap();
    (out, events)
}

fn text(out: &JobOutcome) -> String {
    match out {
        JobOutcome::Done(r) => match r.as_ref() {
            JobResult::Summary { markdown, .. } => markdown.clone(),
            other => panic!("not a summary: {other:?}"),
        },
        other => panic!("not done: {other:?}"),
    }
}

#[test]
fn greedy_text_through_llama_server_equals_the_local_engine() {
    let (Some(bin), Some(m)) = (llama_server(), model()) else {
        return;
    };
    let _turn = one_at_a_time();
    let server = LlamaServer::start(&bin, &m);
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path());
    for doc in ["pdf/olmocr__earnings.pdf", "docx/docling__word_sample.docx"] {
        let (remote, events) = run(
            &core,
            &summary(&m, doc, Some(&server.config())),
            &on_server(&server.config()),
        );
        let device = events.iter().find_map(|e| match e {
            JobEvent::ModelLoaded { device, .. } => Some(device.clone()),
            _ => None,
        });
        assert_eq!(device, Some(format!("server {}", server.url)));
        let (here, _) = run(&core, &summary(&m, doc, None), &local());
        let (remote, here) = (text(&remote), text(&here));
        assert!(!remote.is_empty());
        assert_eq!(
            remote, here,
            "{doc}: the server's greedy text differs from ours"
        );
    }
}

#[test]
fn a_batch_of_three_documents_runs_on_the_server() {
    let (Some(bin), Some(m)) = (llama_server(), model()) else {
        return;
    };
    let _turn = one_at_a_time();
    let server = LlamaServer::start(&bin, &m);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("q3")).unwrap();
    for (from, to) in [
        ("pdf/olmocr__earnings.pdf", "earnings.pdf"),
        ("docx/docling__word_sample.docx", "q3/sample.docx"),
        ("pdf/olmocr__edgar.pdf", "q3/edgar.pdf"),
    ] {
        std::fs::copy(corpus(from), input.join(to)).unwrap();
    }
    let core = core(&dir.path().join("data"));
    let cfg = server.config();
    let opts = BatchOptions {
        template: summary(&m, "", Some(&cfg)),
        out: dir.path().join("out"),
        format: OutputFormat::Markdown,
        parallel: 2,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let report = core
        .batch(
            std::slice::from_ref(&input),
            &opts,
            &on_server(&cfg),
            &cancel,
            &|_| {},
        )
        .unwrap();
    for (f, s) in &report.files {
        assert!(
            matches!(s, FileStatus::Done { .. }),
            "{}: {s:?}",
            f.relative.display()
        );
    }
    for out in ["earnings.pdf.md", "q3/sample.docx.md", "q3/edgar.pdf.md"] {
        let text = std::fs::read_to_string(dir.path().join("out").join(out)).unwrap();
        assert!(!text.trim().is_empty(), "{out} is empty");
    }
    let index = std::fs::read_to_string(&report.index).unwrap();
    assert_eq!(index.lines().count(), 4, "{index}");
    // The jobs ran on the server and say so in the history.
    let jobs = core.store().unwrap().list_jobs().unwrap();
    assert_eq!(jobs.len(), 3);
    for j in &jobs {
        assert_eq!(j.status, JobStatus::Done);
        assert_eq!(
            j.device.as_deref(),
            Some(format!("server {}", server.url).as_str())
        );
    }
    // Again: nothing to do.
    let again = core
        .batch(&[input], &opts, &on_server(&cfg), &cancel, &|_| {})
        .unwrap();
    assert!(again
        .files
        .iter()
        .all(|(_, s)| matches!(s, FileStatus::Skipped { .. })));
}

#[test]
fn a_server_killed_mid_job_leaves_a_resumable_job() {
    let (Some(bin), Some(m)) = (llama_server(), model()) else {
        return;
    };
    let _turn = one_at_a_time();
    let server = Arc::new(Mutex::new(LlamaServer::start(&bin, &m)));
    let cfg = server.lock().unwrap().config();
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path());
    // Several passes: map-reduce in a small context.
    let req = JobRequest {
        context: Some(768),
        ..summary(&m, "pdf/olmocr__edgar.pdf", Some(&cfg))
    };
    let id = tasks::submit(&mut core.store().unwrap(), &req).unwrap();
    let killer = server.clone();
    let err = core
        .run_job(
            id,
            &on_server(&cfg),
            Arc::new(AtomicBool::new(false)),
            &mut |e| {
                if let JobEvent::PassFinished { pass: 0, .. } = e {
                    killer.lock().unwrap().kill();
                }
            },
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("stopped answering") || err.contains("cannot reach"),
        "{err}"
    );
    let job = core.store().unwrap().get_job(id).unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert!(job.done_chunks >= 1, "the finished pass is kept");
    // The server is back (same address): the job resumes from its passes.
    let port = cfg.url.rsplit(':').next().unwrap().to_string();
    let mut back = LlamaServer::start_on(&bin, &m, &port, 1);
    let mut reused = 0;
    let out = core
        .run_job(
            id,
            &on_server(&cfg),
            Arc::new(AtomicBool::new(false)),
            &mut |e| {
                if let JobEvent::PassFinished { reused: true, .. } = e {
                    reused += 1;
                }
            },
        )
        .unwrap();
    assert!(matches!(out, JobOutcome::Done(_)));
    assert!(reused >= 1, "the pass done before the kill is reused");
    back.kill();
}

#[test]
fn a_wrong_url_and_a_wrong_model_name_say_so() {
    let (Some(bin), Some(m)) = (llama_server(), model()) else {
        return;
    };
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path());
    // Nothing listens on a port just freed.
    let nowhere = ServerConfig {
        url: format!("http://127.0.0.1:{}", free_port()),
        model: SERVED.into(),
        api_key: None,
    };
    let req = summary(&m, "pdf/olmocr__earnings.pdf", Some(&nowhere));
    let id = tasks::submit(&mut core.store().unwrap(), &req).unwrap();
    let err = core
        .run_job(
            id,
            &on_server(&nowhere),
            Arc::new(AtomicBool::new(false)),
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot reach the server at http://127.0.0.1:"),
        "{err}"
    );
    assert_eq!(
        core.store().unwrap().get_job(id).unwrap().status,
        JobStatus::Failed
    );

    let server = LlamaServer::start(&bin, &m);
    let wrong = ServerConfig {
        model: "gpt-4o".into(),
        ..server.config()
    };
    let req = summary(&m, "pdf/olmocr__earnings.pdf", Some(&wrong));
    let id = tasks::submit(&mut core.store().unwrap(), &req).unwrap();
    let err = core
        .run_job(
            id,
            &on_server(&wrong),
            Arc::new(AtomicBool::new(false)),
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not serve the model `gpt-4o`") && err.contains(SERVED),
        "{err}"
    );
}

impl LlamaServer {
    /// `slots` 1: one slot of the whole context, requests run one at a
    /// time, as the local engine runs them (same batches, same numerics).
    /// More: the context shared among that many answers at once.
    fn start_on(bin: &Path, model: &Path, port: &str, slots: usize) -> LlamaServer {
        let context = (8192 * slots).to_string();
        let child = Command::new(bin)
            .args(["-m".as_ref(), model.as_os_str()])
            .args(["--alias", SERVED, "--host", "127.0.0.1", "--port", port])
            .args(["-np", &slots.to_string(), "-c", &context, "-t", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("llama-server starts");
        let server = LlamaServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        server.wait_ready();
        server
    }
}

/// Index on a server, as the README tells a team to serve it: the GGUF from
/// `reportlens convert` in llama-server. The server renders Index's raw-id
/// chat format from the GGUF's template to exactly the prompt ids the local
/// engine feeds, and a summary job runs through it. (Greedy text is compared
/// on SmolLM2 above: the tiny fixture's random weights give near-tied logits,
/// where the server's and ours split on the last bits within a few tokens.)
#[test]
fn an_index_gguf_from_convert_is_served_with_its_chat_format() {
    let Some(bin) = llama_server() else { return };
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("index-tiny.Q8_0.gguf");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/index-tiny");
    reportlens::model::convert::convert(
        &fixture,
        reportlens::model::convert::Quant::Q8_0,
        &gguf,
        None,
        |_| {},
    )
    .unwrap();
    let server = LlamaServer::start(&bin, &gguf);
    let (system, user) = (
        "你是一个财务分析助手。",
        "Summarize: revenue rose 12% to RMB6.13 billion.",
    );
    let engine = reportlens::model::load_engine(&gguf, &Default::default()).unwrap();
    let ours = engine.chat_prompt(Some(system), user).unwrap();
    let prompt = post(
        &server.url,
        "/apply-template",
        serde_json::json!({"messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user}]}),
    )["prompt"]
        .as_str()
        .unwrap()
        .to_string();
    let theirs: Vec<u32> = post(
        &server.url,
        "/tokenize",
        serde_json::json!({"content": prompt, "add_special": true, "parse_special": true}),
    )["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(
        theirs, ours,
        "the server's prompt ids differ from the local engine's"
    );
    let core = core(&dir.path().join("data"));
    let req = JobRequest {
        context: Some(1024),
        ..summary(&gguf, "pdf/olmocr__earnings.pdf", Some(&server.config()))
    };
    let (remote, _) = run(&core, &req, &on_server(&server.config()));
    assert!(matches!(remote, JobOutcome::Done(_)));
}

fn post(url: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
    agent()
        .post(format!("{url}{path}"))
        .send_json(&body)
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

/// A short document for the privacy runs (`NOTE_PATH` in the arguments).
const NOTE: &str = "# Q3 note\n\nRevenue rose 12% to $4.2 million; 240 people work here.\n";
const NOTE_PATH: &str = "<note>";

/// The network calls of a `reportlens` run, as `strace` saw them (every
/// thread and child): each `socket(...)` and `connect(...)` line. `None`
/// (the test skips) where strace is missing; `./dev` installs it.
fn network_calls(args: &[&str], env: &[(&str, &str)]) -> Option<Vec<String>> {
    let Ok(strace) = which("strace") else {
        eprintln!("skipping: strace is not installed (./dev test installs it)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("trace");
    let note = dir.path().join("note.md");
    std::fs::write(&note, NOTE).unwrap();
    let args: Vec<&str> = args
        .iter()
        .map(|a| {
            if *a == NOTE_PATH {
                note.to_str().unwrap()
            } else {
                *a
            }
        })
        .collect();
    let out = Command::new(strace)
        // seccomp-bpf: only the traced calls stop the process (not every one).
        .args([
            "-f",
            "-qq",
            "--seccomp-bpf",
            "-e",
            "trace=socket,connect",
            "-o",
        ])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_reportlens"))
        .args(&args)
        .env("REPORTLENS_DATA", dir.path().join("data"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reportlens {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace = std::fs::read_to_string(&log).unwrap();
    Some(
        trace
            .lines()
            .filter(|l| l.contains("socket(") || l.contains("connect("))
            .map(str::to_string)
            .collect(),
    )
}

fn which(cmd: &str) -> Result<PathBuf, ()> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
        .ok_or(())
}

/// Privacy by default: a summary on the engine here opens no socket at all,
/// of any kind, even with a proxy set in the environment.
#[test]
fn the_local_engine_opens_no_socket() {
    let Some(m) = model() else { return };
    let _turn = one_at_a_time();
    let Some(calls) = network_calls(
        &["summarize", NOTE_PATH, "--model", m.to_str().unwrap()],
        &[
            ("HTTPS_PROXY", "http://192.0.2.1:3128"),
            ("ALL_PROXY", "http://192.0.2.1:3128"),
        ],
    ) else {
        return;
    };
    assert_eq!(
        calls,
        Vec::<String>::new(),
        "the local engine opened sockets"
    );
}

/// The remote engine connects to the configured server and nowhere else: not
/// to a proxy from the environment, not to any other address.
#[test]
fn the_remote_engine_connects_only_to_its_server() {
    let (Some(bin), Some(m)) = (llama_server(), model()) else {
        return;
    };
    let _turn = one_at_a_time();
    let server = LlamaServer::start(&bin, &m);
    let port: u16 = server.url.rsplit(':').next().unwrap().parse().unwrap();
    let Some(calls) = network_calls(
        &[
            "summarize",
            NOTE_PATH,
            "--model",
            m.to_str().unwrap(),
            "--engine",
            "openai",
            "--server-url",
            &server.url,
            "--server-model",
            SERVED,
        ],
        &[
            ("HTTP_PROXY", "http://192.0.2.1:3128"),
            ("http_proxy", "http://192.0.2.1:3128"),
            ("ALL_PROXY", "http://192.0.2.1:3128"),
        ],
    ) else {
        return;
    };
    let connects: Vec<&String> = calls.iter().filter(|l| l.contains("connect(")).collect();
    assert!(!connects.is_empty(), "no connection seen: {calls:?}");
    let to_server = format!("sin_port=htons({port}), sin_addr=inet_addr(\"127.0.0.1\")");
    for c in &connects {
        assert!(c.contains(&to_server), "a connection elsewhere: {c}");
    }
    for s in calls.iter().filter(|l| l.contains("socket(")) {
        assert!(
            s.contains("socket(AF_INET, SOCK_STREAM"),
            "another socket: {s}"
        );
    }
}

/// A translation's passes go to the server several at once (`-np 4`, four
/// answers in flight): their streams overlap, every pass is checkpointed in
/// order, and every block comes back translated.
#[test]
fn a_translation_sends_its_passes_to_the_server_at_once() {
    let (Some(bin), Some(m)) = (llama_server(), model()) else {
        return;
    };
    let _turn = one_at_a_time();
    let server = LlamaServer::start_on(&bin, &m, &free_port().to_string(), 4);
    let dir = tempfile::tempdir().unwrap();
    let core = core(&dir.path().join("data"));
    let cfg = server.config();
    let req = JobRequest {
        file: corpus("docx/docling__word_sample.docx"),
        model: m.clone(),
        task: TaskSpec::Translate { to: Lang::Zh },
        strategy: None,
        // A small context: the document's blocks take several passes.
        context: Some(640),
        glossary: None,
        server: Some(ServerRef::of(&cfg)),
    };
    let engine = EngineSettings {
        answers_at_once: 4,
        ..on_server(&cfg)
    };
    let (out, events) = run(&core, &req, &engine);
    let JobOutcome::Done(result) = &out else {
        panic!("{out:?}")
    };
    let passes = events
        .iter()
        .find_map(|e| match e {
            JobEvent::Planned { plan, .. } => Some(plan.passes.len()),
            _ => None,
        })
        .unwrap();
    assert!(passes >= 2, "the plan has {passes} passes");
    // In flight together: the second pass starts before the first finishes,
    // and text of two passes interleaves.
    let at = |want: &dyn Fn(&JobEvent) -> bool| events.iter().position(want).unwrap();
    let second_started = at(&|e| matches!(e, JobEvent::PassStarted { pass: 1, .. }));
    let first_finished = at(&|e| matches!(e, JobEvent::PassFinished { pass: 0, .. }));
    assert!(second_started < first_finished);
    let token_passes: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Token { pass, .. } => Some(*pass),
            _ => None,
        })
        .collect();
    assert!(
        token_passes.windows(2).any(|w| w[1] < w[0]),
        "the streams never overlapped"
    );
    // Checkpointed in order, one per pass; every block translated.
    let finished: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            JobEvent::PassFinished { pass, .. } => Some(*pass),
            _ => None,
        })
        .collect();
    assert_eq!(finished, (0..passes).collect::<Vec<_>>());
    let JobResult::Translation { pairs, .. } = result.as_ref() else {
        panic!("not a translation")
    };
    assert!(!pairs.is_empty());
    assert!(
        pairs.iter().all(|p| !p.target.trim().is_empty()),
        "{pairs:?}"
    );
}
