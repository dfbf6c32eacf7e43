//! Maps key paths (`model_list[3].litellm_params.rpm`) to the line that defines them.
//!
//! serde's YAML values carry no positions once anchors are merged and environment
//! references resolved, so errors found after parsing are located by scanning the
//! source text once. The scanner understands block mappings, block sequences (also
//! "compact" ones at their parent key's indent), block scalars and flow collections
//! that span lines. A path it cannot find (one produced by a merge key, say) falls back
//! to its nearest ancestor that it can.

use std::collections::HashMap;

/// Line numbers (1-based) of every key path found in a YAML text.
#[derive(Debug, Default)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

struct Frame {
    column: usize,
    path: String,
    is_item: bool,
}

/// The scan's state: the index so far, the open mappings and sequences, and each sequence's
/// next item number.
#[derive(Default)]
struct Scanner {
    index: LineIndex,
    stack: Vec<Frame>,
    next_item: HashMap<String, usize>,
}

impl Scanner {
    /// A sequence item at `column` on line `line_no`.
    fn item(&mut self, column: usize, line_no: usize) {
        while self
            .stack
            .last()
            .is_some_and(|f| f.column > column || (f.column == column && f.is_item))
        {
            self.stack.pop();
        }
        let parent = self
            .stack
            .last()
            .map(|f| f.path.clone())
            .unwrap_or_default();
        let counter = self.next_item.entry(parent.clone()).or_insert(0);
        let path = format!("{parent}[{counter}]");
        *counter += 1;
        self.open(path, column, line_no, true);
    }

    /// A mapping key at `column` on line `line_no`.
    fn key(&mut self, key: &str, column: usize, line_no: usize) {
        while self.stack.last().is_some_and(|f| f.column >= column) {
            self.stack.pop();
        }
        let parent = self.stack.last().map(|f| f.path.as_str()).unwrap_or("");
        let path = if parent.is_empty() {
            key.to_string()
        } else {
            format!("{parent}.{key}")
        };
        self.next_item.remove(&path);
        self.open(path, column, line_no, false);
    }

    fn open(&mut self, path: String, column: usize, line_no: usize, is_item: bool) {
        self.index.lines.entry(path.clone()).or_insert(line_no);
        self.stack.push(Frame {
            column,
            path,
            is_item,
        });
    }
}

impl LineIndex {
    /// Scans `text` once.
    pub fn build(text: &str) -> Self {
        let mut scan = Scanner::default();
        // Lines to skip: the body of a block scalar (deeper than `column`) or of a
        // flow collection still open (`depth` brackets).
        let mut block_scalar_column: Option<usize> = None;
        let mut flow_depth: i32 = 0;

        for (number, raw_line) in text.lines().enumerate() {
            let line_no = number + 1;
            let indent = raw_line.len() - raw_line.trim_start_matches(' ').len();
            let content = strip_comment(raw_line.trim_start_matches(' '));
            if content.trim().is_empty() || content.starts_with("---") || content.starts_with("...")
            {
                continue;
            }
            if let Some(column) = block_scalar_column {
                if indent > column {
                    continue;
                }
                block_scalar_column = None;
            }
            if flow_depth > 0 {
                flow_depth += bracket_balance(content);
                continue;
            }

            let mut column = indent;
            let mut rest = content;
            loop {
                if let Some(after) = rest
                    .strip_prefix('-')
                    .filter(|a| a.is_empty() || a.starts_with(' '))
                {
                    scan.item(column, line_no);
                    let trimmed = after.trim_start_matches(' ');
                    column += 1 + (after.len() - trimmed.len());
                    rest = trimmed;
                    if rest.is_empty() {
                        break;
                    }
                    continue;
                }
                if let Some((key, value)) = split_key(rest) {
                    scan.key(key, column, line_no);
                    let value = value.trim();
                    if is_block_scalar_indicator(value) {
                        block_scalar_column = Some(column);
                    } else {
                        flow_depth = bracket_balance(value).max(0);
                    }
                } else {
                    flow_depth = bracket_balance(rest).max(0);
                }
                break;
            }
        }
        scan.index
    }

    /// The line of `path`, or of its nearest ancestor the scanner found.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut candidate = path;
        loop {
            if let Some(line) = self.lines.get(candidate) {
                return Some(*line);
            }
            let cut = candidate.rfind(['.', '['])?;
            candidate = &candidate[..cut];
        }
    }
}

/// `key: value` → (`key`, `value`), with the key unquoted; `None` when the text is not a
/// mapping entry (a plain scalar such as `us-east-1` or `http://host:80`).
fn split_key(text: &str) -> Option<(&str, &str)> {
    if text.starts_with('{') || text.starts_with('[') {
        return None;
    }
    if let Some(quote) = text.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = text[1..].find(quote)? + 1;
        let after = &text[end + 1..];
        let value = after.strip_prefix(':')?;
        return (value.is_empty() || value.starts_with(' ')).then_some((&text[1..end], value));
    }
    let mut search = 0;
    while let Some(at) = text[search..].find(':') {
        let at = search + at;
        let after = &text[at + 1..];
        if after.is_empty() || after.starts_with(' ') {
            return Some((text[..at].trim_end(), after));
        }
        search = at + 1;
    }
    None
}

fn is_block_scalar_indicator(value: &str) -> bool {
    let value = value.split_whitespace().last().unwrap_or("");
    let value = value.trim_start_matches(['&']);
    matches!(value.chars().next(), Some('|' | '>'))
        && value[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == '+')
}

/// Opening minus closing brackets outside quotes.
fn bracket_balance(text: &str) -> i32 {
    let mut balance = 0;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '{' | '[') => balance += 1,
            (None, '}' | ']') => balance -= 1,
            (None, _) => {}
        }
    }
    balance
}

/// The text before a `#` comment (a `#` that starts the text or follows a space, outside quotes).
fn strip_comment(text: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if previous == ' ' || previous == ':' || i == 0 => quote = Some(c),
            (None, '#') if previous == ' ' || i == 0 => return text[..i].trim_end(),
            (None, _) => {}
        }
        previous = c;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
x-defaults: &defaults   # anchors only
  aws_region_name: us-east-1
aws:
  profile_name: genai
model_list:
  - model_name: primary
    litellm_params:
      model: bedrock/us.anthropic.claude-sonnet-4-6
      <<: *defaults
      rpm: 3
  - model_name: fallback
    litellm_params: {model: \"bedrock/x:0\", rpm: 25}
router_settings:
  fallbacks:
  - primary: [fallback]
  note: |
    model_list: not a key
  default_fallbacks: [
    fallback,
  ]
  num_retries: 2
";

    #[test]
    fn finds_block_and_sequence_paths() {
        let index = LineIndex::build(TEXT);
        assert_eq!(index.line_of("aws.profile_name"), Some(4));
        assert_eq!(index.line_of("model_list[0]"), Some(6));
        assert_eq!(index.line_of("model_list[0].litellm_params.rpm"), Some(10));
        assert_eq!(index.line_of("model_list[1].model_name"), Some(11));
        assert_eq!(
            index.line_of("router_settings.fallbacks[0].primary"),
            Some(15)
        );
        assert_eq!(index.line_of("router_settings.num_retries"), Some(21));
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        let index = LineIndex::build(TEXT);
        // Inside a flow mapping: the entry's own line.
        assert_eq!(index.line_of("model_list[1].litellm_params.rpm"), Some(12));
        // Merged in from an anchor: the mapping that merged it.
        assert_eq!(
            index.line_of("model_list[0].litellm_params.aws_region_name"),
            Some(7)
        );
    }

    #[test]
    fn skips_block_scalars_and_multi_line_flow_collections() {
        let index = LineIndex::build(TEXT);
        assert_eq!(index.line_of("router_settings.note"), Some(16));
        assert_eq!(index.line_of("model_list"), Some(5));
        assert_eq!(index.line_of("router_settings.default_fallbacks"), Some(18));
    }

    #[test]
    fn splits_keys_but_not_urls_or_model_ids() {
        assert_eq!(split_key("rpm: 3"), Some(("rpm", " 3")));
        assert_eq!(split_key("\"a b\": 1"), Some(("a b", " 1")));
        assert_eq!(split_key("http://localhost:8000"), None);
        assert_eq!(
            split_key("model: bedrock/x-v1:0"),
            Some(("model", " bedrock/x-v1:0"))
        );
        assert_eq!(strip_comment("rpm: 3 # three"), "rpm: 3");
        assert_eq!(strip_comment("url: \"a#b\""), "url: \"a#b\"");
    }
}
