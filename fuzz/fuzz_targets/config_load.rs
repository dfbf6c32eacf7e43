//! Fuzzes the config loader: any text, as if read from a file, must load or give a located
//! `ConfigError`, never panic. `os.environ/` references resolve from a fixed environment.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fn env(name: &str) -> Option<String> {
    match name {
        "MASTER_KEY" => Some("sk-fuzz-master".to_owned()),
        "AWS_REGION" => Some("us-east-1".to_owned()),
        "RPM" => Some("60".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Path::new("fuzz/config.yaml");
    match resilient_llm::config::load_str(text, source, &env) {
        Ok(config) => {
            let _ = format!("{config:?}");
        }
        Err(error) => {
            assert_eq!(error.file, source, "the error names the file it was given");
            if let Some(line) = error.line {
                assert!(line >= 1, "lines are 1-based: {error}");
            }
            let _ = error.to_string();
        }
    }
});
