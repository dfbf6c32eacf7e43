//! Fuzzes the event-stream decoder the AWS SDK uses on ConverseStream bodies: arbitrary bytes,
//! whole (`read_message_from`) and in pieces (`MessageFrameDecoder`), must decode or error,
//! never panic; whatever decodes must encode back to the same bytes.
#![no_main]

use aws_smithy_eventstream::frame::{
    DecodedFrame, MessageFrameDecoder, read_message_from, write_message_to,
};
use bytes::{Buf, Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte: the size of the pieces fed to the streaming decoder.
    let Some((&piece, frame)) = data.split_first() else {
        return;
    };
    let bytes = Bytes::copy_from_slice(frame);

    let whole = read_message_from(bytes.clone());
    if let Ok(message) = &whole {
        let mut encoded = Vec::new();
        write_message_to(message, &mut encoded).expect("a decoded message encodes");
        assert_eq!(
            frame.get(..encoded.len()),
            Some(&encoded[..]),
            "decode then encode changed the frame"
        );
    }

    let mut decoder = MessageFrameDecoder::new();
    let mut buffer = BytesMut::new();
    let step = usize::from(piece).max(1);
    let mut first = None;
    for chunk in frame.chunks(step) {
        buffer.extend_from_slice(chunk);
        match decoder.decode_frame(&mut buffer) {
            Ok(DecodedFrame::Complete(message)) => {
                first = Some(Ok(message));
                break;
            }
            Ok(DecodedFrame::Incomplete) => {}
            Err(error) => {
                first = Some(Err(error));
                break;
            }
        }
    }
    // A frame that decodes whole decodes the same in pieces.
    if let Ok(whole) = &whole {
        match &first {
            Some(Ok(streamed)) => assert_eq!(whole, streamed, "streamed and whole decodes differ"),
            Some(Err(error)) => panic!("decodes whole but not in pieces: {error}"),
            None => panic!("decodes whole but the streaming decoder wants more"),
        }
    }
    let _ = buffer.remaining();
});
