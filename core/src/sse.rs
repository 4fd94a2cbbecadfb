//! A small Server-Sent Events parser (the WHATWG `text/event-stream` format), fed with byte
//! chunks as they arrive.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// The stream broke one of the parser's bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line longer than [`MAX_LINE`] bytes.
    #[error("event stream line longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// One event's `data` longer than [`MAX_EVENT_DATA`] bytes.
    #[error("event stream event with more than {MAX_EVENT_DATA} bytes of data")]
    EventTooLarge,
}

/// Longest line accepted (a challenge is at most 3072 bytes).
pub const MAX_LINE: usize = 64 * 1024;
/// Most data one event may carry (over all its `data:` lines).
pub const MAX_EVENT_DATA: usize = 64 * 1024;

/// Incremental parser: [`SseParser::push`] bytes, get complete events.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    after_cr: bool,
    /// `buf` holds no line break before this index (already searched).
    scanned: usize,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk; returns the events it completes. After an error the parser drops what
    /// it had buffered and goes on with the next line.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut chunk = chunk;
        if self.after_cr && !chunk.is_empty() {
            // The previous chunk ended with '\r': a leading '\n' completes that "\r\n".
            self.after_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        // Search only the new bytes for the first line break: a long line arriving in small
        // chunks is then read in linear time, not quadratic (found by the sse fuzz target).
        let mut from = self.scanned.min(self.buf.len());
        while let Some(pos) = self.buf[from..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        {
            let end = from + pos;
            let mut next = end + 1;
            if self.buf[end] == b'\r' {
                match self.buf.get(end + 1) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let line = String::from_utf8_lossy(&self.buf[start..end]).into_owned();
            start = next;
            from = next.min(self.buf.len());
            if let Some(ev) = self.line(&line) {
                events.push(ev);
            }
            if self.data.len() > MAX_EVENT_DATA {
                self.buf.drain(..start);
                self.scanned = 0;
                self.reset_event();
                return Err(SseError::EventTooLarge);
            }
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        if self.buf.len() > MAX_LINE {
            self.buf.clear();
            self.scanned = 0;
            return Err(SseError::LineTooLong);
        }
        Ok(events)
    }

    fn reset_event(&mut self) {
        self.event.clear();
        self.data.clear();
        self.has_data = false;
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            if !std::mem::take(&mut self.has_data) {
                return None;
            }
            let event = if event.is_empty() {
                "message".to_owned()
            } else {
                event
            };
            return Some(SseEvent { event, data });
        }
        if line.starts_with(':') {
            return None; // comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {} // id, retry and unknown fields are not used
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn parses_events_comments_and_line_endings() {
        let mut p = SseParser::new();
        let text = ": keep-alive\n\nevent: challenge\ndata: a.b.c\n\nevent: decided\r\ndata: {\"x\":1}\r\n\r\ndata: one\ndata:two\n\n";
        let got = p.push(text.as_bytes()).expect("parse");
        assert_eq!(
            got,
            vec![
                ev("challenge", "a.b.c"),
                ev("decided", "{\"x\":1}"),
                ev("message", "one\ntwo")
            ]
        );
    }

    #[test]
    fn events_split_across_chunks() {
        let text = b"event: challenge\r\ndata: a.b.c\r\n\r\nevent: decided\rdata: d\r\r";
        for split in 0..text.len() {
            let mut p = SseParser::new();
            let mut got = p.push(&text[..split]).expect("first");
            got.extend(p.push(&text[split..]).expect("second"));
            assert_eq!(
                got,
                vec![ev("challenge", "a.b.c"), ev("decided", "d")],
                "split at {split}"
            );
        }
    }

    #[test]
    fn a_long_line_in_small_chunks_is_searched_once() {
        // Found by the sse fuzz target: every chunk re-searched the whole pending line, so a
        // long line sent a byte at a time cost quadratic time. Each byte is now searched once.
        let mut p = SseParser::new();
        let line = format!("data: {}\r\n\r\n", "x".repeat(MAX_LINE - 16));
        let mut got = Vec::new();
        for b in line.as_bytes() {
            got.extend(p.push(std::slice::from_ref(b)).expect("push"));
            assert_eq!(p.scanned, p.buf.len(), "what is kept was searched already");
        }
        assert_eq!(got, vec![ev("message", &"x".repeat(MAX_LINE - 16))]);
    }

    #[test]
    fn refuses_endless_lines() {
        let mut p = SseParser::new();
        assert_eq!(
            p.push(&vec![b'a'; MAX_LINE + 1]),
            Err(SseError::LineTooLong)
        );
        assert_eq!(
            p.push(b"data: ok\n\n").expect("recovers"),
            vec![ev("message", "ok")]
        );
    }

    #[test]
    fn refuses_endless_events() {
        let mut p = SseParser::new();
        let line = format!("data: {}\n", "x".repeat(1000));
        let mut result = Ok(Vec::new());
        for _ in 0..(MAX_EVENT_DATA / 1000 + 2) {
            result = p.push(line.as_bytes());
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SseError::EventTooLarge));
        assert_eq!(
            p.push(b"\ndata: ok\n\n").expect("recovers"),
            vec![ev("message", "ok")]
        );
    }
}
