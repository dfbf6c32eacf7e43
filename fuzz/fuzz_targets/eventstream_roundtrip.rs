//! Fuzzes the sandbox's ConverseStream framing. First the sandbox's own encoder: an
//! `event_frame` of any event type and JSON text must decode with `read_message_from` to exactly
//! those headers and that payload. Then the library calls it is built on: arbitrary headers and
//! payloads encoded with `Message::new_from_parts` + `write_message_to` must decode to the same
//! message, with both CRC32s right, and any flipped bit must be refused.
#![no_main]

use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_types::DateTime;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use resilient_llm::sandbox::bedrock::eventstream::event_frame;

const PRELUDE: usize = 12;

fn header_value(u: &mut Unstructured<'_>) -> Result<HeaderValue> {
    Ok(match u.int_in_range(0..=8u8)? {
        0 => HeaderValue::Bool(u.arbitrary()?),
        1 => HeaderValue::Byte(u.arbitrary()?),
        2 => HeaderValue::Int16(u.arbitrary()?),
        3 => HeaderValue::Int32(u.arbitrary()?),
        4 => HeaderValue::Int64(u.arbitrary()?),
        5 => HeaderValue::ByteArray(Bytes::from(u.arbitrary::<Vec<u8>>()?)),
        6 => HeaderValue::String(u.arbitrary::<String>()?.into()),
        7 => HeaderValue::Timestamp(DateTime::from_millis(u.arbitrary()?)),
        _ => HeaderValue::Uuid(u.arbitrary()?),
    })
}

/// A message like the sandbox's (string headers, JSON payload) or anything else.
fn message(u: &mut Unstructured<'_>) -> Result<Message> {
    let mut headers = Vec::new();
    for _ in 0..u.int_in_range(0..=6u8)? {
        let name: String = u.arbitrary()?;
        headers.push(Header::new(name, header_value(u)?));
    }
    let payload: Vec<u8> = if u.arbitrary()? {
        serde_json::json!({ "contentBlockIndex": 0, "delta": { "text": u.arbitrary::<String>()? } })
            .to_string()
            .into_bytes()
    } else {
        u.arbitrary()?
    };
    Ok(Message::new_from_parts(headers, payload))
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The sandbox's `event_frame` for an arbitrary event type and text decodes to exactly them.
fn check_event_frame(u: &mut Unstructured<'_>) -> Result<()> {
    let event_type: String = u.arbitrary()?;
    let text: String = u.arbitrary()?;
    let payload = serde_json::json!({ "contentBlockIndex": 0, "delta": { "text": text } });
    let frame = event_frame(&event_type, &payload);
    if event_type.len() > 32767 {
        // Over the header-value limit: the encoder refuses, and sends nothing.
        assert!(frame.is_empty(), "an over-long event type was encoded");
        return Ok(());
    }
    let decoded = read_message_from(frame).expect("the sandbox's frame decodes");
    let header = |name: &str| {
        decoded
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .map(|h| h.value().clone())
    };
    let string = |value: &str| Some(HeaderValue::String(value.to_owned().into()));
    assert_eq!(header(":event-type"), string(&event_type));
    assert_eq!(header(":message-type"), string("event"));
    assert_eq!(header(":content-type"), string("application/json"));
    let back: serde_json::Value =
        serde_json::from_slice(decoded.payload()).expect("the payload is JSON");
    assert_eq!(back, payload, "the payload changed");
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    if check_event_frame(&mut u).is_err() {
        return;
    }
    let Ok(message) = message(&mut u) else {
        return;
    };
    let mut frame = Vec::new();
    if write_message_to(&message, &mut frame).is_err() {
        // Over a limit (name > 255 bytes, value > 32767 bytes): refused, and nothing written.
        let too_long = message.headers().iter().any(|h| {
            h.name().as_bytes().len() > 255
                || match h.value() {
                    HeaderValue::String(s) => s.as_bytes().len() > 32767,
                    HeaderValue::ByteArray(b) => b.len() > 32767,
                    _ => false,
                }
        });
        assert!(too_long, "an encodable message was refused");
        return;
    }

    // Prelude: total length, headers length, CRC32 of those 8 bytes; message CRC32 at the end.
    assert!(frame.len() >= PRELUDE + 4);
    assert_eq!(be_u32(&frame, 0) as usize, frame.len(), "total length");
    let headers_len = be_u32(&frame, 4) as usize;
    assert_eq!(
        PRELUDE + headers_len + message.payload().len() + 4,
        frame.len()
    );
    assert_eq!(
        be_u32(&frame, 8),
        crc32fast::hash(&frame[..8]),
        "prelude CRC"
    );
    let end = frame.len() - 4;
    assert_eq!(
        be_u32(&frame, end),
        crc32fast::hash(&frame[..end]),
        "message CRC"
    );

    let decoded = read_message_from(Bytes::from(frame.clone())).expect("our frame decodes");
    assert_eq!(decoded, message, "round trip changed the message");

    // Any single flipped bit is caught by a CRC (or a length check), never decoded as valid.
    if let Ok(bit) = u.int_in_range(0..=frame.len() * 8 - 1) {
        let mut corrupt = frame;
        corrupt[bit / 8] ^= 1 << (bit % 8);
        assert!(
            read_message_from(Bytes::from(corrupt)).is_err(),
            "a corrupted frame decoded"
        );
    }
});
