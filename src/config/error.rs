//! Config errors: what is wrong, at which key path, in which file and on which line.

use std::fmt;
use std::path::PathBuf;

/// A config problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Key path such as `model_list[3].litellm_params.rpm`; empty for file-level problems.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{} ({}", self.message, self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for ConfigError {}

/// A problem found during validation, before it is located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub path: String,
    pub message: String,
}

impl Invalid {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Rewrites serde's type-error wording into the config's (`expected an integer, found "three"`).
pub fn describe_serde_error(message: &str) -> String {
    let mismatch = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|rest| rest.split_once(", expected "));
    match mismatch {
        Some((found, expected)) => format!(
            "expected {}, found {}",
            expected_phrase(expected),
            found_phrase(found)
        ),
        None => message.to_string(),
    }
}

fn expected_phrase(expected: &str) -> &str {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "i32" | "i64" | "usize" => "an integer",
        "f32" | "f64" => "a number",
        "a boolean" | "a string" | "a sequence" => expected,
        "struct RawConsumer" | "struct RawModelEntry" | "struct RawLitellmParams" => "a mapping",
        other if other.starts_with("struct ") => "a mapping",
        other => other,
    }
}

fn found_phrase(found: &str) -> String {
    match found.strip_prefix("string ") {
        Some(quoted) => quoted.to_string(),
        None => found.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_path_file_and_line() {
        let error = ConfigError {
            file: "config/config.yaml".into(),
            line: Some(41),
            path: "model_list[3].litellm_params.rpm".into(),
            message: "expected an integer, found \"three\"".into(),
        };
        assert_eq!(
            error.to_string(),
            "model_list[3].litellm_params.rpm: expected an integer, found \"three\" (config/config.yaml:41)"
        );
    }

    #[test]
    fn rewrites_serde_type_errors() {
        assert_eq!(
            describe_serde_error("invalid type: string \"three\", expected u32"),
            "expected an integer, found \"three\""
        );
        assert_eq!(
            describe_serde_error("invalid value: integer `-1`, expected u32"),
            "expected an integer, found integer `-1`"
        );
    }
}
