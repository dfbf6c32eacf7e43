//! The loading pipeline: text → YAML value → raw types → validated [`Config`].

use std::path::{Path, PathBuf};

use super::error::{ConfigError, Invalid, describe_serde_error};
use super::lines::LineIndex;
use super::litellm::did_you_mean;
use super::model::Config;
use super::raw::RawConfig;
use super::sandbox::SandboxSettings;
use super::validate::validate;
use super::yaml;

/// The default config shipped with the binary, used when no config file exists at the
/// default path, so the demos run from anywhere.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/config.yaml");

/// Where the default config lives relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "config/config.yaml";

/// Reads and validates the config at `path`, resolving `os.environ/` from the process.
///
/// A file that anyone on the machine can read must not hold a literal master key: it is
/// refused with how to read the key from the environment instead.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: None,
        path: String::new(),
        message: format!("cannot read the config file: {e}"),
    })?;
    if readable_by_others(path) {
        let lines = LineIndex::build(&text);
        if let Some(key_path) = literal_master_key(&text) {
            return Err(ConfigError {
                file: path.to_path_buf(),
                line: lines.line_of(&key_path),
                message: format!(
                    "a literal master key in a file every user of this machine can read; write \
                     `master_key: os.environ/RESILIENT_LLM_MASTER_KEY` and export the key, \
                     or make the file private (chmod 600 {})",
                    path.display()
                ),
                path: key_path,
            });
        }
        if let Some(key_path) = literal_sigv4_secret(&text) {
            return Err(ConfigError {
                file: path.to_path_buf(),
                line: lines.line_of(&key_path),
                message: format!(
                    "a literal SigV4 secret in a file every user of this machine can read; write \
                     `sigv4_secret_access_key: os.environ/<NAME>` and export the secret, \
                     or make the file private (chmod 600 {})",
                    path.display()
                ),
                path: key_path,
            });
        }
    }
    load_str(&text, path, &|name| std::env::var(name).ok())
}

/// Whether users other than the owner can read `path`: the file is readable by others and
/// its folder lets them in.
#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode()).ok();
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    matches!((mode(path), mode(&folder)), (Some(file), Some(dir)) if file & 0o004 != 0 && dir & 0o001 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> bool {
    false
}

/// The key path of a master key written literally (not `os.environ/…`), if any.
fn literal_master_key(text: &str) -> Option<String> {
    let value = yaml::parse(text).ok()?;
    ["gateway", "litellm", "general_settings"]
        .into_iter()
        .find_map(|section| {
            let key = value.get(section)?.get("master_key")?.as_str()?;
            (!key.starts_with("os.environ/")).then(|| format!("{section}.master_key"))
        })
}

/// The key path of a consumer's SigV4 secret written literally, if any: it follows the master
/// key's rule.
fn literal_sigv4_secret(text: &str) -> Option<String> {
    let value = yaml::parse(text).ok()?;
    ["gateway", "litellm"].into_iter().find_map(|section| {
        let consumers = value.get(section)?.get("consumers")?.as_sequence()?;
        consumers.iter().enumerate().find_map(|(i, consumer)| {
            let secret = consumer.get("sigv4_secret_access_key")?.as_str()?;
            (!secret.starts_with("os.environ/"))
                .then(|| format!("{section}.consumers[{i}].sigv4_secret_access_key"))
        })
    })
}

/// Validates config `text` as if read from `source`, with `env` for `os.environ/` values.
pub fn load_str(
    text: &str,
    source: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let lines = LineIndex::build(text);
    let locate = |path: String, line: Option<usize>, message: String| ConfigError {
        file: source.to_path_buf(),
        line: line.or_else(|| lines.line_of(&path)),
        path,
        message,
    };

    let mut value = yaml::parse(text).map_err(|i| locate(i.path, i.line, i.message))?;
    yaml::drop_extension_keys(&mut value);
    let ignored_keys = yaml::take_unimplemented_litellm_keys(&mut value);
    yaml::resolve_env(&mut value, env).map_err(|i| locate(i.path, i.line, i.message))?;

    let mut raw: RawConfig = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let (path, message) = explain(path, &e.inner().to_string());
        locate(path, None, message)
    })?;

    let sandbox = SandboxSettings::from_raw(std::mem::take(&mut raw.sandbox)).map_err(|e| {
        let path = if e.path.is_empty() {
            "sandbox".to_string()
        } else {
            format!("sandbox.{}", e.path)
        };
        locate(path, None, e.message)
    })?;
    let (mut config, warnings) = validate(raw, source, sandbox, ignored_keys)
        .map_err(|Invalid { path, message }| locate(path, None, message))?;
    config.warnings = warnings
        .into_iter()
        .map(|Invalid { path, message }| locate(path, None, message))
        .collect();
    Ok(config)
}

/// Turns serde's message into ours; unknown keys get the key in the path and a hint.
fn explain(path: String, message: &str) -> (String, String) {
    if let Some((key, expected)) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
    {
        let expected: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let key_path = if path.ends_with(key) {
            path
        } else if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        };
        let hint = match did_you_mean(key, &expected) {
            Some(close) => format!(" (did you mean `{close}`?)"),
            None if expected.is_empty() => String::new(),
            None => format!("; expected one of: {}", expected.join(", ")),
        };
        return (key_path, format!("unknown key `{key}`{hint}"));
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or(rest);
        let key_path = if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        };
        return (key_path, "this key is required".to_string());
    }
    (path, describe_serde_error(message))
}

/// Resolves which config file to use: an explicit path must exist; the default path may be
/// missing, in which case the built-in default config is used.
pub fn resolve(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    match explicit {
        Some(path) => load(path),
        None => {
            let path = PathBuf::from(DEFAULT_CONFIG_PATH);
            if path.exists() {
                load(&path)
            } else {
                load_str(
                    DEFAULT_CONFIG,
                    Path::new("(built-in default config)"),
                    &|name| std::env::var(name).ok(),
                )
            }
        }
    }
}
