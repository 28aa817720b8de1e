//! Server-sent events as OpenAI-compatible servers stream them: `data: {json}`
//! lines, blank lines between events, `data: [DONE]` at the end.
use std::io;

use serde_json::Value;

/// One event of a chat stream.
#[derive(Debug, PartialEq)]
pub(super) enum Event {
    Data(Value),
    /// The stream's own end marker.
    Done,
}

/// Events from the lines of a response body. Comments (`: ping`), other
/// fields (`event:`, `id:`) and blank lines are skipped; a data line that is
/// not JSON is an error, as the server has broken the protocol.
pub(super) struct SseLines<L> {
    lines: L,
}

impl<L: Iterator<Item = io::Result<String>>> SseLines<L> {
    pub(super) fn new(lines: L) -> Self {
        SseLines { lines }
    }
}

impl<L: Iterator<Item = io::Result<String>>> Iterator for SseLines<L> {
    type Item = io::Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.lines.next()? {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            };
            let line = line.trim_end_matches('\r');
            // llama-server writes a mid-stream failure as `error: {json}`.
            let (field, rest) = match line.split_once(':') {
                Some((f, r)) => (f, r.strip_prefix(' ').unwrap_or(r)),
                None => continue,
            };
            if field != "data" && field != "error" {
                continue;
            }
            if field == "data" && rest.trim() == "[DONE]" {
                return Some(Ok(Event::Done));
            }
            return Some(match serde_json::from_str::<Value>(rest) {
                Ok(v) if field == "error" => Ok(Event::Data(serde_json::json!({ "error": v }))),
                Ok(v) => Ok(Event::Data(v)),
                Err(e) => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a stream line is not JSON ({e}): {rest:.80}"),
                )),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str) -> Vec<io::Result<Event>> {
        SseLines::new(text.lines().map(|l| Ok(l.to_string()))).collect()
    }

    #[test]
    fn data_lines_become_events_and_the_rest_is_skipped() {
        let got = events(
            ": ping\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: x\nid: 3\ndata:{\"b\":2}\n\ndata: [DONE]\n",
        );
        let got: Vec<Event> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            got,
            vec![
                Event::Data(serde_json::json!({"a": 1})),
                Event::Data(serde_json::json!({"b": 2})),
                Event::Done
            ]
        );
        let got = events("error: {\"code\":500,\"message\":\"boom\"}\n");
        assert_eq!(
            got[0].as_ref().unwrap(),
            &Event::Data(serde_json::json!({"error": {"code": 500, "message": "boom"}}))
        );
        assert!(events("data: {not json\n")[0].is_err());
    }
}
