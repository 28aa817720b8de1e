//! What can go wrong with a server, phrased for the user. No message carries
//! the API key; a URL is shown as configured.
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("no server model name: set one in Settings or pass --server-model (GET /v1/models on the server lists them)")]
    NoModelName,
    #[error("`{url}` is not a server address: use http://host:port or https://host")]
    BadUrl { url: String },
    #[error("cannot reach the server at {url} ({detail}); check the address and that the server is running")]
    Unreachable { url: String, detail: String },
    #[error("the server at {url} refused the API key (HTTP {status}); check the key in Settings or --api-key")]
    Unauthorised { url: String, status: u16 },
    #[error("the server at {url} does not serve the model `{model}`; it serves: {}", served.join(", "))]
    UnknownModel {
        url: String,
        model: String,
        served: Vec<String>,
    },
    #[error("the server at {url} does not know the model or the address (HTTP 404: {detail}); check the base URL and the model name")]
    NotFound { url: String, detail: String },
    #[error("the prompt is longer than the server's context ({detail}); plan with a smaller --context or give the server a larger one")]
    ContextTooLong { detail: String },
    #[error("the server at {url} refused the request (HTTP {status}: {detail})")]
    Refused {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("the server at {url} failed (HTTP {status}: {detail}); finished passes are kept, resume the job when it is back")]
    ServerFailed {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("the server at {url} stopped answering mid-stream ({detail}); finished passes are kept, resume the job when it is back")]
    StreamCut { url: String, detail: String },
    #[error("the server at {url} answered something unexpected: {detail}")]
    BadReply { url: String, detail: String },
    #[error("cancelled")]
    Cancelled,
}

/// The error an HTTP status and its body (`{"error": {...}}`, a bare
/// `{"message": ...}` or text) stand for.
pub(super) fn from_body(url: &str, status: u16, body: &Value) -> RemoteError {
    let message = body["message"]
        .as_str()
        .or_else(|| body.as_str())
        .unwrap_or("")
        .trim()
        .to_string();
    let kind = body["type"].as_str().unwrap_or("");
    let lower = message.to_lowercase();
    let too_long = kind == "exceed_context_size_error"
        || lower.contains("context length")
        || lower.contains("context size")
        || lower.contains("maximum context")
        || lower.contains("too long");
    let url = url.to_string();
    let detail = if message.is_empty() {
        format!("no message; type {kind:?}")
    } else {
        message
    };
    match status {
        401 | 403 => RemoteError::Unauthorised { url, status },
        404 => RemoteError::NotFound { url, detail },
        400 | 413 | 422 if too_long => RemoteError::ContextTooLong { detail },
        400..=499 => RemoteError::Refused {
            url,
            status,
            detail,
        },
        _ if too_long => RemoteError::ContextTooLong { detail },
        _ => RemoteError::ServerFailed {
            url,
            status,
            detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_and_bodies_become_specific_errors() {
        let u = "http://127.0.0.1:1";
        let llama = json!({"code": 400, "type": "exceed_context_size_error",
            "message": "the request exceeds the available context size, try increasing it"});
        assert!(matches!(
            from_body(u, 400, &llama),
            RemoteError::ContextTooLong { .. }
        ));
        let vllm = json!({"object": "error", "type": "BadRequestError",
            "message": "This model's maximum context length is 2048 tokens. However, you requested 4000 tokens"});
        assert!(matches!(
            from_body(u, 400, &vllm),
            RemoteError::ContextTooLong { .. }
        ));
        let e = from_body(u, 401, &json!({"message": "Invalid API Key"}));
        assert!(e.to_string().contains("refused the API key"), "{e}");
        let e = from_body(u, 404, &json!("Not Found"));
        assert!(e.to_string().contains("404: Not Found"), "{e}");
        let e = from_body(u, 503, &json!({"message": "Loading model"}));
        assert!(e.to_string().contains("resume the job"), "{e}");
        let e = from_body(u, 400, &json!({}));
        assert!(matches!(e, RemoteError::Refused { status: 400, .. }), "{e}");
    }
}
