//! An incremental parser of server-sent events, fed the body as it arrives.
//!
//! Only what chat-completions streams use: `data:` fields (several lines joined by `\n`),
//! events ended by a blank line, comments (`:`) and other fields ignored, `\n` or `\r\n`
//! line ends. Bytes are buffered only up to the last complete line.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseEvent {
    /// The `data` of an event.
    Data(String),
    /// `data: [DONE]`: the stream is complete.
    Done,
}

/// Parser state between chunks of the body.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes not yet consumed; starts at a line boundary.
    buffer: Vec<u8>,
    /// `data` lines of the event being read.
    data: Option<String>,
}

impl SseParser {
    /// An empty parser.
    pub fn new() -> Self {
        SseParser::default()
    }

    /// Feeds the next piece of the body and returns the events it completed, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut consumed = 0;
        while let Some(offset) = self.buffer[consumed..].iter().position(|&b| b == b'\n') {
            let end = consumed + offset;
            let line = &self.buffer[consumed..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(event) = read_line(&mut self.data, line) {
                events.push(event);
            }
            consumed = end + 1;
        }
        self.buffer.drain(..consumed);
        events
    }

    /// Ends the body: an event not followed by a blank line is still dispatched.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let rest = std::mem::take(&mut self.buffer);
        let rest = rest.strip_suffix(b"\r").unwrap_or(&rest);
        if !rest.is_empty()
            && let Some(event) = read_line(&mut self.data, rest)
        {
            return Some(event);
        }
        self.dispatch()
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        dispatch(&mut self.data)
    }
}

/// Takes one line (without its line end); a blank line dispatches the pending event.
fn read_line(pending: &mut Option<String>, line: &[u8]) -> Option<SseEvent> {
    if line.is_empty() {
        return dispatch(pending);
    }
    let Some(value) = line.strip_prefix(b"data:") else {
        // Comments (`: keep-alive`), `event:`, `id:` and `retry:` carry nothing we use.
        return None;
    };
    let value = value.strip_prefix(b" ").unwrap_or(value);
    let value = String::from_utf8_lossy(value);
    match pending {
        Some(data) => {
            data.push('\n');
            data.push_str(&value);
        }
        None => *pending = Some(value.into_owned()),
    }
    None
}

fn dispatch(pending: &mut Option<String>) -> Option<SseEvent> {
    let data = pending.take()?;
    Some(if data.trim() == "[DONE]" {
        SseEvent::Done
    } else {
        SseEvent::Data(data)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(body: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events: Vec<SseEvent> = body.chunks(piece).flat_map(|c| parser.push(c)).collect();
        events.extend(parser.finish());
        events
    }

    #[test]
    fn events_split_across_chunks_at_every_boundary() {
        let body =
            b"data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":\"x y\"}\r\n\r\ndata: [DONE]\n\n";
        let expected = vec![
            SseEvent::Data("{\"a\":1}".into()),
            SseEvent::Data("{\"b\":\"x y\"}".into()),
            SseEvent::Done,
        ];
        for piece in 1..body.len() {
            assert_eq!(parse_in_pieces(body, piece), expected, "piece size {piece}");
        }
    }

    #[test]
    fn multi_line_data_is_joined_and_other_fields_ignored() {
        let body = b"event: message\nid: 7\ndata: first\ndata:second\n\n";
        assert_eq!(
            parse_in_pieces(body, 4),
            vec![SseEvent::Data("first\nsecond".into())]
        );
    }

    #[test]
    fn last_event_without_blank_line_is_dispatched_at_the_end() {
        assert_eq!(
            parse_in_pieces(b"data: tail", 3),
            vec![SseEvent::Data("tail".into())]
        );
        assert_eq!(parse_in_pieces(b"data: [DONE]\n", 5), vec![SseEvent::Done]);
    }

    #[test]
    fn a_split_multibyte_character_survives() {
        let body = "data: h\u{e9}llo \u{1f600}\n\n".as_bytes();
        for piece in 1..body.len() {
            assert_eq!(
                parse_in_pieces(body, piece),
                vec![SseEvent::Data("h\u{e9}llo \u{1f600}".into())]
            );
        }
    }
}
