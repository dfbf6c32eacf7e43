//! Fuzzes the OpenAI chat-completions body parser: any bytes give a request or a 400 whose
//! message is non-empty, never a panic. An accepted request, serialised as it is forwarded to an
//! OpenAI-compatible upstream (without `model`, `stream` and `stream_options`, which the
//! provider sets) and given those fields back, parses again to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resilient_llm::openai::parse_chat_request;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    match parse_chat_request(data) {
        Ok(request) => {
            let mut forwarded =
                serde_json::to_value(&request).expect("a parsed request serialises");
            let Value::Object(fields) = &mut forwarded else {
                panic!("a request serialises to an object: {forwarded}");
            };
            fields.insert("model".into(), Value::String(request.model.clone()));
            if let Some(stream) = request.stream {
                fields.insert("stream".into(), Value::Bool(stream));
            }
            if let Some(options) = request.stream_options {
                fields.insert(
                    "stream_options".into(),
                    serde_json::to_value(options).expect("serialises"),
                );
            }
            let again = forwarded.to_string();
            match parse_chat_request(again.as_bytes()) {
                Ok(reparsed) => assert_eq!(
                    reparsed, request,
                    "the round trip changed the request: {again}"
                ),
                Err(error) => {
                    panic!("a parsed request, serialised, is refused: {error:?}\n{again}")
                }
            }
        }
        Err(error) => {
            assert!(!error.message.is_empty(), "an error without a message");
            let _ = serde_json::to_string(&error.to_error_body());
        }
    }
});
