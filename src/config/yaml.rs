//! The YAML layer: parse, apply merge keys, drop `x-…` extension keys, resolve
//! `os.environ/NAME` references and set aside known LiteLLM keys we do not implement.
//!
//! Everything here works on `serde_yaml::Value` before the typed pass, so the typed
//! pass sees exactly the document a LiteLLM user meant.

use serde_yaml::{Mapping, Value};

use super::litellm::unimplemented_keys;

/// A problem found in the YAML layer, located by key path (or by line for syntax errors).
#[derive(Debug, PartialEq)]
pub struct YamlIssue {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

/// The prefix LiteLLM uses for values read from the environment.
const ENV_PREFIX: &str = "os.environ/";

/// Parses `text` and applies merge keys, recursively.
pub fn parse(text: &str) -> Result<Value, YamlIssue> {
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| YamlIssue {
        path: String::new(),
        line: e.location().map(|l| l.line()),
        message: format!("invalid YAML: {}", syntax_message(&e)),
    })?;
    if value.is_null() {
        value = Value::Mapping(Mapping::new());
    }
    value.apply_merge().map_err(|e| YamlIssue {
        path: String::new(),
        line: e.location().map(|l| l.line()),
        message: format!("invalid merge key (<<): {e}"),
    })?;
    if !value.is_mapping() {
        return Err(YamlIssue {
            path: String::new(),
            line: Some(1),
            message: "the config must be a mapping of sections (aws, gateway, model_list, …)"
                .into(),
        });
    }
    Ok(value)
}

/// serde_yaml's message without its first " at line L column C" (we print the line
/// ourselves), keeping any "while parsing … at line L" context after it.
fn syntax_message(error: &serde_yaml::Error) -> String {
    let text = error.to_string();
    let Some(at) = text.find(" at line ") else {
        return text;
    };
    let rest = &text[at + " at line ".len()..];
    let after_location = rest.find(", ").map_or("", |i| &rest[i..]);
    format!("{}{}", &text[..at], after_location)
}

/// Removes top-level `x-…` keys: they exist only to hold anchors.
pub fn drop_extension_keys(root: &mut Value) {
    if let Value::Mapping(map) = root {
        map.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with("x-")));
    }
}

/// Replaces every `os.environ/NAME` string with the variable's value, read through `lookup`.
pub fn resolve_env(
    root: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), YamlIssue> {
    resolve_env_at(root, String::new(), lookup)
}

fn resolve_env_at(
    value: &mut Value,
    path: String,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), YamlIssue> {
    match value {
        Value::String(text) => {
            if let Some(name) = text.strip_prefix(ENV_PREFIX) {
                let resolved = lookup(name).ok_or_else(|| YamlIssue {
                    path: path.clone(),
                    line: None,
                    message: format!(
                        "environment variable {name} is not set (referenced as {ENV_PREFIX}{name})"
                    ),
                })?;
                *text = resolved;
            }
            Ok(())
        }
        Value::Mapping(map) => {
            for (key, child) in map.iter_mut() {
                resolve_env_at(child, join(&path, &key_text(key)), lookup)?;
            }
            Ok(())
        }
        Value::Sequence(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                resolve_env_at(child, format!("{path}[{i}]"), lookup)?;
            }
            Ok(())
        }
        Value::Tagged(tagged) => resolve_env_at(&mut tagged.value, path, lookup),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// Removes the LiteLLM keys that load but have no effect here; returns their key paths.
pub fn take_unimplemented_litellm_keys(root: &mut Value) -> Vec<String> {
    let mut taken = Vec::new();
    let Value::Mapping(map) = root else {
        return taken;
    };
    take_from(map, "", unimplemented_keys(""), &mut taken);
    for section in ["general_settings", "litellm_settings", "router_settings"] {
        if let Some(Value::Mapping(inner)) = map.get_mut(section) {
            take_from(inner, section, unimplemented_keys(section), &mut taken);
        }
    }
    if let Some(Value::Sequence(entries)) = map.get_mut("model_list") {
        for (i, entry) in entries.iter_mut().enumerate() {
            for section in ["litellm_params", "model_info"] {
                if let Some(Value::Mapping(inner)) = entry.get_mut(section) {
                    let path = format!("model_list[{i}].{section}");
                    take_from(inner, &path, unimplemented_keys(section), &mut taken);
                }
            }
        }
    }
    taken
}

fn take_from(map: &mut Mapping, path: &str, keys: &[&str], taken: &mut Vec<String>) {
    map.retain(|k, _| {
        let keep = !k.as_str().is_some_and(|k| keys.contains(&k));
        if !keep {
            taken.push(join(path, &key_text(k)));
        }
        keep
    });
}

/// A mapping key as text, for key paths.
pub fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// `a` + `b` → `a.b` (or `b` at the root).
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keys_apply_into_block_and_flow_mappings_with_overrides() {
        let text = "\
x-defaults: &d {aws_region_name: us-east-1, rpm: 5}
a: {<<: *d, rpm: 7}
b:
  <<: *d
  aws_region_name: us-west-2
";
        let mut value = parse(text).unwrap();
        drop_extension_keys(&mut value);
        assert!(value.get("x-defaults").is_none());
        assert_eq!(value["a"]["rpm"], Value::from(7));
        assert_eq!(value["a"]["aws_region_name"], Value::from("us-east-1"));
        assert_eq!(value["b"]["rpm"], Value::from(5));
        assert_eq!(value["b"]["aws_region_name"], Value::from("us-west-2"));
    }

    #[test]
    fn env_references_resolve_or_name_the_variable() {
        let mut value = parse("gateway:\n  master_key: os.environ/KEY\n").unwrap();
        resolve_env(&mut value, &|n| (n == "KEY").then(|| "sk-1".to_string())).unwrap();
        assert_eq!(value["gateway"]["master_key"], Value::from("sk-1"));

        let mut value =
            parse("model_list:\n- litellm_params: {api_key: os.environ/NOPE}\n").unwrap();
        let issue = resolve_env(&mut value, &|_| None).unwrap_err();
        assert_eq!(issue.path, "model_list[0].litellm_params.api_key");
        assert!(issue.message.contains("NOPE"), "{}", issue.message);
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let issue = parse("a: 1\nb: [unclosed\nc: 3\n").unwrap_err();
        assert!(issue.line.is_some());
        assert!(
            issue.message.starts_with("invalid YAML"),
            "{}",
            issue.message
        );
    }

    #[test]
    fn unimplemented_litellm_keys_are_taken_with_their_paths() {
        let mut value = parse(
            "litellm_settings: {set_verbose: true, drop_params: true}\n\
             model_list:\n- litellm_params: {model: bedrock/x, max_tokens: 9}\n",
        )
        .unwrap();
        let taken = take_unimplemented_litellm_keys(&mut value);
        assert_eq!(
            taken,
            vec![
                "litellm_settings.set_verbose",
                "model_list[0].litellm_params.max_tokens"
            ]
        );
        assert_eq!(value["litellm_settings"]["drop_params"], Value::from(true));
    }
}
