//! Bedrock Runtime's binary event stream (`application/vnd.amazon.eventstream`): the frames
//! ConverseStream and InvokeModelWithResponseStream answer with, written by the gateway's
//! Bedrock surface and by the sandbox alike.
//!
//! Frames are encoded with `aws_smithy_eventstream::frame::write_message_to` (prelude CRC32 and
//! message CRC32 included). An event frame carries `:event-type` (the member of the stream's
//! union: `messageStart`, `chunk`, …) and its JSON; an exception frame `:exception-type` (the
//! union's lower-camel-case error member: `throttlingException`, …) and `{"message"}`.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;

/// The content type of an event-stream response.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

fn encode(headers: Vec<Header>, payload: impl Into<Bytes>) -> Bytes {
    let message = Message::new_from_parts(headers, payload);
    let mut buffer = Vec::new();
    // Frames are far below the 16 MiB limit that could make this fail.
    match write_message_to(&message, &mut buffer) {
        Ok(()) => Bytes::from(buffer),
        Err(_) => Bytes::new(),
    }
}

fn header(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_owned().into()))
}

/// An event frame (`:message-type=event`) with its JSON payload.
pub fn event_frame(event_type: &str, payload: impl Into<Bytes>) -> Bytes {
    let headers = vec![
        header(":event-type", event_type),
        header(":content-type", "application/json"),
        header(":message-type", "event"),
    ];
    encode(headers, payload)
}

/// An exception frame (`:message-type=exception`): `exception_type` in lower camel case, as
/// the stream's union names it.
pub fn exception_frame(exception_type: &str, message: &str) -> Bytes {
    let headers = vec![
        header(":exception-type", exception_type),
        header(":content-type", "application/json"),
        header(":message-type", "exception"),
    ];
    encode(
        headers,
        serde_json::json!({ "message": message }).to_string(),
    )
}

/// A string header of a frame (`:event-type`, `:message-type`, …).
pub fn header_value<'m>(message: &'m Message, name: &str) -> Option<&'m str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

/// The exception a stream's union member names: `throttlingException` →
/// `ThrottlingException` (the inverse of [`stream_member`]).
pub fn exception_of_member(member: &str) -> String {
    let mut chars = member.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The union member an exception is named by in a stream: `ThrottlingException` →
/// `throttlingException`.
pub fn stream_member(exception: &str) -> String {
    let mut chars = exception.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    #[test]
    fn member_names_and_exception_names_are_each_others_inverse() {
        assert_eq!(stream_member("ThrottlingException"), "throttlingException");
        assert_eq!(
            exception_of_member("modelStreamErrorException"),
            "ModelStreamErrorException"
        );
        assert_eq!(exception_of_member(""), "");
    }

    fn header_of<'m>(message: &'m Message, name: &str) -> &'m str {
        header_value(message, name).unwrap_or_default()
    }

    #[test]
    fn frames_read_back_with_their_headers_and_payload() {
        let mut frame = event_frame("messageStart", r#"{"role":"assistant"}"#);
        let message = read_message_from(&mut frame).unwrap();
        assert_eq!(header_of(&message, ":event-type"), "messageStart");
        assert_eq!(header_of(&message, ":message-type"), "event");
        assert_eq!(&message.payload()[..], br#"{"role":"assistant"}"#);
        let mut frame = exception_frame(&stream_member("ThrottlingException"), "slow down");
        let message = read_message_from(&mut frame).unwrap();
        assert_eq!(
            header_of(&message, ":exception-type"),
            "throttlingException"
        );
        assert_eq!(header_of(&message, ":message-type"), "exception");
        assert_eq!(&message.payload()[..], br#"{"message":"slow down"}"#);
    }
}
