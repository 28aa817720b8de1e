//! Run an untrusted parser on its own thread: panics become `Corrupt`, a parse that
//! runs past the time limit becomes `Timeout`.

use super::IngestError;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::{mpsc, Once};
use std::time::Duration;

pub(super) const THREAD_PREFIX: &str = "reportlens-ingest";

/// Run `parse` isolated. Parsers recurse over attacker-controlled structures, so the
/// thread gets a large stack.
pub fn run<T: Send + 'static>(
    path: &Path,
    format: &'static str,
    timeout: Duration,
    parse: impl FnOnce() -> Result<T, IngestError> + Send + 'static,
) -> Result<T, IngestError> {
    quiet_parser_panics();
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name(format!("{THREAD_PREFIX}-{format}"))
        .stack_size(256 << 20)
        .spawn(move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(parse));
            // The receiver is gone if we timed out; nothing left to tell.
            let _ = tx.send(outcome);
        });
    if let Err(source) = spawned {
        return Err(IngestError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(result)) => result,
        Ok(Err(payload)) => Err(IngestError::Corrupt {
            path: path.to_path_buf(),
            format,
            reason: format!("the {format} parser crashed ({})", panic_message(&payload)),
        }),
        // Rust cannot stop a thread from outside: the parser thread is abandoned here and
        // keeps running (holding its memory) until the parser returns on its own; its
        // result is then dropped. The caller gets its answer now.
        Err(mpsc::RecvTimeoutError::Timeout) => Err(IngestError::Timeout {
            path: path.to_path_buf(),
            format,
            seconds: timeout.as_secs().max(1),
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(IngestError::Corrupt {
            path: path.to_path_buf(),
            format,
            reason: format!("the {format} parser stopped unexpectedly"),
        }),
    }
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    let msg = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    };
    // Keep error messages to one short line.
    let line = msg.lines().next().unwrap_or("").trim();
    let mut short: String = line.chars().take(160).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

/// Panics inside a parser thread are expected and reported as errors; keep the default
/// hook from printing them to stderr (which would break one-line CLI errors). Panics on
/// every other thread still reach the previous hook.
fn quiet_parser_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let ours = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(THREAD_PREFIX));
            if !ours {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_parser_is_a_corrupt_file() {
        let r: Result<(), _> = run(Path::new("x.pdf"), "PDF", Duration::from_secs(5), || {
            panic!("boom\nmore")
        });
        match r {
            Err(IngestError::Corrupt { reason, .. }) => {
                assert_eq!(reason, "the PDF parser crashed (boom)")
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn a_hanging_parser_times_out() {
        let start = std::time::Instant::now();
        let r: Result<(), _> = run(
            Path::new("x.pdf"),
            "PDF",
            Duration::from_millis(200),
            || {
                std::thread::sleep(Duration::from_secs(3));
                Ok(())
            },
        );
        assert!(matches!(r, Err(IngestError::Timeout { .. })), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn results_pass_through() {
        let r = run(Path::new("x.txt"), "TXT", Duration::from_secs(5), || Ok(42));
        assert_eq!(r.unwrap(), 42);
    }
}
