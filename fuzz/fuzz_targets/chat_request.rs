//! Fuzzes the OpenAI chat-completions body parser: any bytes give a request or a 400 whose
//! message is non-empty, never a panic; an accepted request, serialised again, is accepted again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resilient_llm::openai::parse_chat_request;

fuzz_target!(|data: &[u8]| {
    match parse_chat_request(data) {
        Ok(request) => {
            let again = serde_json::to_vec(&request).expect("a parsed request serialises");
            if let Err(error) = parse_chat_request(&again) {
                panic!(
                    "a parsed request, serialised, is refused: {error:?}\n{}",
                    String::from_utf8_lossy(&again)
                );
            }
        }
        Err(error) => {
            assert!(!error.message.is_empty(), "an error without a message");
            let _ = serde_json::to_string(&error.to_error_body());
        }
    }
});
