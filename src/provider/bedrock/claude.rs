//! An Anthropic Messages body as Bedrock's InvokeModel takes it, per Claude model.
//!
//! Bedrock takes Anthropic's own body with `anthropic_version: "bedrock-2023-05-31"`, the
//! betas in `anthropic_beta`, and no `model` or `stream`; it refuses a body with a field or a
//! beta the model does not take (`ValidationException`: "invalid beta flag", "metadata: Extra
//! inputs are not permitted"). Claude Code and the Anthropic SDKs send both, so the gateway
//! maps or drops them by the table below, whatever `drop_params` says, and forwards everything
//! else untouched (cache markers, thinking blocks and their signatures, tool ids).
//!
//! | beta / field                     | on Bedrock                                              |
//! |----------------------------------|---------------------------------------------------------|
//! | `interleaved-thinking-2025-05-14`| kept, Claude 4 and later                                |
//! | `context-1m-2025-08-07`          | kept, Sonnet 4 and 4.5                                  |
//! | `context-management-2025-06-27`  | kept, 4.5 and later (`context_management` needs it)     |
//! | `effort-2025-11-24`              | kept, Opus 4.5 (`output_config.effort` needs it there)  |
//! | `tool-search-tool-2025-10-19`, `tool-examples-2025-10-29` | kept, Opus 4.5 (`defer_loading`, `input_examples` need them) |
//! | `advanced-tool-use-2025-11-20`   | becomes `tool-search-tool-2025-10-19` where that is kept |
//! | `token-efficient-tools-2025-02-19` | kept, 3.7 Sonnet to 4.5                               |
//! | `computer-use-2025-01-24`        | kept, 3.7 Sonnet to 4.5                                 |
//! | any other (`claude-code-…`, `oauth-…`, `prompt-caching-scope-…`, …) | dropped           |
//! | `metadata`, `service_tier`, `container`, `inference_geo`, `mcp_servers` | dropped       |
//! | `context_management`             | dropped without its beta                                |
//! | `output_config`                  | `effort` kept on Opus 4.5 (with its beta) and 4.6 and later; the rest dropped |
//! | `thinking: adaptive`             | kept on 4.6 and later; before, `enabled` with a budget by effort (low 1,024, medium 2,048, high 4,096, below `max_tokens`), or dropped when `max_tokens` leaves no room |
//! | `thinking: enabled`              | kept; on 4.7 and later (adaptive only) becomes `adaptive` |
//! | `thinking: disabled`             | kept; dropped on 4.7 and later, which refuse it (Sonnet 5 always thinks on Bedrock) |
//! | `temperature`, `top_p`, `top_k`  | kept; dropped on 4.7 and later, which refuse sampling parameters |
//! | `tool_choice: any` / `tool`      | kept; `auto` on Sonnet 5.5 and later, which refuse forced tool use |
//! | tools' `defer_loading`, `input_examples` | dropped without their beta                      |
//!
//! Sources: the Bedrock user guide's Anthropic Messages request page (its beta list), peer
//! gateways' Bedrock allowlists, and the errors their users reported (see the README).

use serde_json::{Map, Value, json};

use crate::anthropic::MessagesRequest;
use crate::content::Effort;

/// The `anthropic_version` Bedrock requires in the body.
pub const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// The tier of a Claude model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Haiku,
    Sonnet,
    Opus,
}

/// A Claude model by tier and version (`claude-sonnet-4-6` is Sonnet 4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaudeModel {
    pub tier: Tier,
    /// (major, minor): 4.6 is `(4, 6)`, Sonnet 4 is `(4, 0)`.
    pub version: (u8, u8),
}

impl ClaudeModel {
    /// The Claude model a Bedrock model id, inference profile id or ARN names, if it names one
    /// (`us.anthropic.claude-sonnet-4-6`, `anthropic.claude-3-7-sonnet-20250219-v1:0`).
    pub fn of(model_id: &str) -> Option<ClaudeModel> {
        let name = model_id.rsplit('/').next()?;
        let name = &name[name.find("claude-")? + "claude-".len()..];
        let parts: Vec<&str> = name.split(['-', ':']).collect();
        let tier = |word: &str| match word {
            "haiku" => Some(Tier::Haiku),
            "sonnet" => Some(Tier::Sonnet),
            "opus" => Some(Tier::Opus),
            _ => None,
        };
        // A version part is a small number; dates (20250219) and `v1` are not.
        let number = |part: Option<&&str>| part.and_then(|p| p.parse::<u8>().ok());
        match tier(parts.first()?) {
            // claude-sonnet-4-6, claude-haiku-4-5-20251001-v1:0, claude-sonnet-4-20250514-v1:0
            Some(tier) => {
                let major = number(parts.get(1))?;
                let minor = number(parts.get(2)).unwrap_or(0);
                Some(ClaudeModel {
                    tier,
                    version: (major, minor),
                })
            }
            // claude-3-7-sonnet-20250219-v1:0, claude-3-5-haiku-…
            None => {
                let major = number(parts.first())?;
                let (minor, word) = match number(parts.get(1)) {
                    Some(minor) => (minor, parts.get(2)?),
                    None => (0, parts.get(1)?),
                };
                Some(ClaudeModel {
                    tier: tier(word)?,
                    version: (major, minor),
                })
            }
        }
    }

    pub fn at_least(self, major: u8, minor: u8) -> bool {
        self.version >= (major, minor)
    }

    fn is(self, tier: Tier, major: u8, minor: u8) -> bool {
        self.tier == tier && self.version == (major, minor)
    }

    /// Whether Bedrock takes `beta` for this model.
    pub fn takes_beta(self, beta: &str) -> bool {
        match beta {
            "interleaved-thinking-2025-05-14" => self.at_least(4, 0),
            "context-1m-2025-08-07" => {
                self.tier == Tier::Sonnet && matches!(self.version, (4, 0) | (4, 5))
            }
            "context-management-2025-06-27" => self.at_least(4, 5),
            "effort-2025-11-24" | "tool-search-tool-2025-10-19" | "tool-examples-2025-10-29" => {
                self.is(Tier::Opus, 4, 5)
            }
            "token-efficient-tools-2025-02-19" | "computer-use-2025-01-24" => {
                self.at_least(3, 7) && !self.at_least(4, 6)
            }
            _ => false,
        }
    }

    /// Whether the model takes `thinking: {type: adaptive}` (4.6 and later).
    pub fn takes_adaptive_thinking(self) -> bool {
        self.at_least(4, 6)
    }

    /// Whether the model takes only adaptive thinking (4.7 and later): manual (`enabled`) and
    /// `disabled` thinking are refused, and so are sampling parameters.
    pub fn adaptive_only(self) -> bool {
        self.at_least(4, 7)
    }

    /// Whether the model takes a forced tool choice (`any`, `tool`): not Sonnet 5.5 and later.
    pub fn takes_forced_tool_use(self) -> bool {
        !(self.tier == Tier::Sonnet && self.at_least(5, 5))
    }

    /// Whether the model thinks even when the request does not ask it to: Sonnet 5 and
    /// later, whose adaptive thinking is always on on Bedrock.
    pub fn always_thinks(self) -> bool {
        self.at_least(5, 0)
    }

    /// Whether the model takes `output_config.effort` given the betas sent.
    fn takes_effort(self, betas: &[String]) -> bool {
        self.at_least(4, 6) || betas.iter().any(|b| b == "effort-2025-11-24")
    }
}

/// A body ready for InvokeModel, and what the table changed in it.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeBody {
    pub body: Map<String, Value>,
    /// The betas and fields dropped or mapped (`anthropic-beta: claude-code-20250219`,
    /// `metadata`, `thinking.adaptive → enabled`), for the debug log.
    pub changes: Vec<String>,
}

/// Fields Bedrock refuses on every Claude model.
const NEVER_ON_BEDROCK: [&str; 5] = [
    "metadata",
    "service_tier",
    "container",
    "inference_geo",
    "mcp_servers",
];

/// The smallest thinking budget Claude takes.
const MIN_THINKING_BUDGET: u64 = 1024;

/// A thinking budget of `budget` that leaves room for an answer under `max_tokens` (below
/// it); `None` when that leaves less than Claude's minimum of 1,024.
pub fn thinking_budget(budget: u64, max_tokens: Option<u64>) -> Option<u64> {
    let budget = max_tokens.map_or(budget, |max| budget.min(max.saturating_sub(1)));
    (budget >= MIN_THINKING_BUDGET).then_some(budget)
}

/// `tool_choice: any` or `tool` as `auto` (its `disable_parallel_tool_use` kept).
fn forced_tool_use(body: &mut Map<String, Value>, changes: &mut Vec<String>) {
    let Some(Value::Object(choice)) = body.get_mut("tool_choice") else {
        return;
    };
    let kind = choice.get("type").and_then(Value::as_str);
    if matches!(kind, Some("any" | "tool")) {
        changes.push(format!("tool_choice.{} → auto", kind.unwrap_or_default()));
        choice.insert("type".into(), json!("auto"));
        choice.remove("name");
    }
}

/// Sampling parameters, which Claude 4.7 and later refuse.
const SAMPLING: [&str; 3] = ["temperature", "top_p", "top_k"];

/// The body of `request` for `model` on Bedrock (`None`: a model the table does not know,
/// which gets the version and the betas' mapping only for Claude 4 and later rules).
pub fn invoke_body(request: &MessagesRequest, model: Option<ClaudeModel>) -> InvokeBody {
    // A Claude model not recognised is treated as the newest the table knows.
    let model = model.unwrap_or(ClaudeModel {
        tier: Tier::Sonnet,
        version: (4, 6),
    });
    let mut changes = Vec::new();
    let mut body = request.body.clone();
    body.remove("model");
    body.remove("stream");
    body.insert("anthropic_version".into(), json!(BEDROCK_ANTHROPIC_VERSION));
    let betas = betas(&request.betas, model, &mut changes);
    match betas.is_empty() {
        true => body.remove("anthropic_beta"),
        false => body.insert("anthropic_beta".into(), json!(betas)),
    };
    for field in NEVER_ON_BEDROCK {
        if body.remove(field).is_some() {
            changes.push(field.to_owned());
        }
    }
    let has = |beta: &str| betas.iter().any(|b| b == beta);
    if !has("context-management-2025-06-27") && body.remove("context_management").is_some() {
        changes.push("context_management".into());
    }
    output_config(&mut body, model.takes_effort(&betas), &mut changes);
    thinking(&mut body, model, request.max_tokens, &mut changes);
    if !model.takes_forced_tool_use() {
        forced_tool_use(&mut body, &mut changes);
    }
    if model.adaptive_only() {
        for field in SAMPLING {
            if body.remove(field).is_some() {
                changes.push(field.to_owned());
            }
        }
    }
    let tool_fields = [
        ("defer_loading", has("tool-search-tool-2025-10-19")),
        ("input_examples", has("tool-examples-2025-10-29")),
    ];
    if let Some(Value::Array(tools)) = body.get_mut("tools") {
        for (field, kept) in tool_fields {
            // Every tool loses the field: count, not `any`, which would stop at the first.
            let dropped = !kept
                && tools
                    .iter_mut()
                    .filter_map(Value::as_object_mut)
                    .map(|tool| tool.remove(field).is_some())
                    .filter(|removed| *removed)
                    .count()
                    > 0;
            if dropped {
                changes.push(format!("tools.{field}"));
            }
        }
    }
    InvokeBody { body, changes }
}

/// The betas Bedrock takes for `model`, mapped; the others noted as dropped.
fn betas(asked: &[String], model: ClaudeModel, changes: &mut Vec<String>) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for asked in asked {
        let beta = match asked.as_str() {
            "advanced-tool-use-2025-11-20" => "tool-search-tool-2025-10-19",
            other => other,
        };
        if model.takes_beta(beta) {
            if !kept.iter().any(|k| k == beta) {
                kept.push(beta.to_owned());
            }
        } else {
            changes.push(format!("anthropic-beta: {asked}"));
        }
    }
    kept
}

/// `output_config` keeps only `effort`, and only where the model takes it.
fn output_config(body: &mut Map<String, Value>, takes_effort: bool, changes: &mut Vec<String>) {
    let Some(Value::Object(config)) = body.get_mut("output_config") else {
        return;
    };
    let before = config.len();
    config.retain(|key, _| takes_effort && key == "effort");
    if config.len() < before {
        changes.push("output_config".into());
    }
    if config.is_empty() {
        body.remove("output_config");
    }
}

/// Thinking the model takes: adaptive before 4.6 becomes a budget, enabled on 4.7 adaptive.
fn thinking(
    body: &mut Map<String, Value>,
    model: ClaudeModel,
    max_tokens: u64,
    changes: &mut Vec<String>,
) {
    let kind = body
        .get("thinking")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str);
    match kind {
        Some("adaptive") if !model.takes_adaptive_thinking() => {
            let effort = body
                .get("output_config")
                .and_then(|c| c.get("effort"))
                .and_then(Value::as_str)
                .and_then(Effort::parse)
                .unwrap_or(Effort::High);
            if let Some(budget) = thinking_budget(effort.budget_tokens(), Some(max_tokens)) {
                let thinking = json!({"type": "enabled", "budget_tokens": budget});
                body.insert("thinking".into(), thinking);
                changes.push(format!("thinking.adaptive → enabled ({budget} tokens)"));
            } else {
                body.remove("thinking");
                changes.push("thinking (max_tokens leaves no budget)".into());
            }
        }
        Some("enabled") if model.adaptive_only() => {
            let mut thinking = json!({"type": "adaptive"});
            if let Some(display) = body.get("thinking").and_then(|t| t.get("display")) {
                thinking["display"] = display.clone();
            }
            body.insert("thinking".into(), thinking);
            changes.push("thinking.enabled → adaptive".into());
        }
        Some("disabled") if model.adaptive_only() => {
            body.remove("thinking");
            changes.push("thinking.disabled".into());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::parse_messages_request;

    const CLAUDE_CODE_BETAS: &str = "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,thinking-token-count-2026-05-13,advanced-tool-use-2025-11-20,effort-2025-11-24";

    fn claude_code_request() -> MessagesRequest {
        let body = json!({
            "model": "claude-sonnet-4-6", "max_tokens": 32000, "stream": true,
            "thinking": {"type": "adaptive", "display": "omitted"},
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            "output_config": {"effort": "high"},
            "metadata": {"user_id": "{\"device_id\":\"d\"}"},
            "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
            "tools": [{"name": "Write", "input_schema": {"type": "object"}, "defer_loading": true}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}],
        });
        parse_messages_request(body.to_string().as_bytes(), Some(CLAUDE_CODE_BETAS)).unwrap()
    }

    #[test]
    fn model_ids_name_their_claude_model() {
        let cases = [
            ("us.anthropic.claude-sonnet-4-6", Tier::Sonnet, (4, 6)),
            (
                "anthropic.claude-haiku-4-5-20251001-v1:0",
                Tier::Haiku,
                (4, 5),
            ),
            (
                "anthropic.claude-sonnet-4-20250514-v1:0",
                Tier::Sonnet,
                (4, 0),
            ),
            ("global.anthropic.claude-opus-4-6-v1", Tier::Opus, (4, 6)),
            (
                "anthropic.claude-3-7-sonnet-20250219-v1:0",
                Tier::Sonnet,
                (3, 7),
            ),
            (
                "anthropic.claude-3-haiku-20240307-v1:0",
                Tier::Haiku,
                (3, 0),
            ),
            (
                "arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-opus-4-5-20251101-v1:0",
                Tier::Opus,
                (4, 5),
            ),
            ("us.anthropic.claude-sonnet-5", Tier::Sonnet, (5, 0)),
        ];
        for (id, tier, version) in cases {
            assert_eq!(
                ClaudeModel::of(id),
                Some(ClaudeModel { tier, version }),
                "{id}"
            );
        }
        assert_eq!(ClaudeModel::of("amazon.nova-pro-v1:0"), None);
    }

    #[test]
    fn claude_codes_request_reaches_sonnet_4_6_without_what_bedrock_refuses() {
        let model = ClaudeModel::of("us.anthropic.claude-sonnet-4-6");
        let InvokeBody { body, changes } = invoke_body(&claude_code_request(), model);
        assert_eq!(body["anthropic_version"], BEDROCK_ANTHROPIC_VERSION);
        assert!(body.get("model").is_none() && body.get("stream").is_none());
        assert_eq!(
            body["anthropic_beta"],
            json!([
                "interleaved-thinking-2025-05-14",
                "context-management-2025-06-27"
            ])
        );
        assert!(body.get("metadata").is_none());
        assert_eq!(
            body["thinking"],
            json!({"type": "adaptive", "display": "omitted"})
        );
        assert_eq!(body["output_config"], json!({"effort": "high"}));
        assert!(body.get("context_management").is_some());
        assert!(body["tools"][0].get("defer_loading").is_none());
        // Cache markers pass untouched.
        assert_eq!(
            body["system"][0]["cache_control"],
            json!({"type": "ephemeral"})
        );
        assert_eq!(
            body["messages"][0]["content"][0]["cache_control"],
            json!({"type": "ephemeral"})
        );
        assert_eq!(
            changes,
            [
                "anthropic-beta: claude-code-20250219",
                "anthropic-beta: thinking-token-count-2026-05-13",
                "anthropic-beta: advanced-tool-use-2025-11-20",
                "anthropic-beta: effort-2025-11-24",
                "metadata",
                "tools.defer_loading",
            ]
        );
    }

    #[test]
    fn opus_4_5_keeps_effort_and_tool_search_and_thinks_with_a_budget() {
        let model = ClaudeModel::of("us.anthropic.claude-opus-4-5-20251101-v1:0");
        let InvokeBody { body, .. } = invoke_body(&claude_code_request(), model);
        assert_eq!(
            body["anthropic_beta"],
            json!([
                "interleaved-thinking-2025-05-14",
                "context-management-2025-06-27",
                "tool-search-tool-2025-10-19",
                "effort-2025-11-24"
            ])
        );
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": 4096})
        );
        assert_eq!(body["output_config"], json!({"effort": "high"}));
        assert_eq!(body["tools"][0]["defer_loading"], true);
    }

    #[test]
    fn older_models_lose_what_they_cannot_take() {
        let model = ClaudeModel::of("anthropic.claude-3-7-sonnet-20250219-v1:0");
        let mut request = claude_code_request();
        request.max_tokens = 2000;
        let InvokeBody { body, changes } = invoke_body(&request, model);
        assert!(body.get("anthropic_beta").is_none(), "{body:?}");
        assert!(body.get("context_management").is_none());
        assert!(body.get("output_config").is_none());
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": 1999})
        );
        assert!(
            changes.contains(&"thinking.adaptive → enabled (1999 tokens)".to_owned()),
            "{changes:?}"
        );
        request.max_tokens = 1000;
        let InvokeBody { body, .. } = invoke_body(&request, model);
        assert!(body.get("thinking").is_none());
    }

    #[test]
    fn adaptive_only_models_get_adaptive_thinking() {
        let body = json!({"model": "m", "max_tokens": 8000,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "messages": [{"role": "user", "content": "hi"}]});
        let request = parse_messages_request(body.to_string().as_bytes(), None).unwrap();
        let InvokeBody { body, .. } =
            invoke_body(&request, ClaudeModel::of("us.anthropic.claude-opus-4-7"));
        assert_eq!(body["thinking"], json!({"type": "adaptive"}));
        let InvokeBody { body, changes } =
            invoke_body(&request, ClaudeModel::of("us.anthropic.claude-sonnet-4-6"));
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": 2048})
        );
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn sonnet_5_loses_disabled_thinking_and_sampling_parameters() {
        let body = json!({"model": "claude-sonnet-5", "max_tokens": 8000,
            "thinking": {"type": "disabled"}, "temperature": 0.2, "top_p": 0.9, "top_k": 5,
            "messages": [{"role": "user", "content": "hi"}]});
        let request = parse_messages_request(body.to_string().as_bytes(), None).unwrap();
        let sonnet_5 = ClaudeModel::of("global.anthropic.claude-sonnet-5").unwrap();
        assert!(sonnet_5.always_thinks() && sonnet_5.adaptive_only());
        let InvokeBody { body, changes } = invoke_body(&request, Some(sonnet_5));
        for field in ["thinking", "temperature", "top_p", "top_k"] {
            assert!(!body.contains_key(field), "{field} kept");
        }
        assert_eq!(
            changes,
            ["thinking.disabled", "temperature", "top_p", "top_k"]
        );
        // Sonnet 4.6 takes all four.
        let InvokeBody { body, changes } =
            invoke_body(&request, ClaudeModel::of("us.anthropic.claude-sonnet-4-6"));
        assert_eq!(body["thinking"], json!({"type": "disabled"}));
        assert_eq!(body["top_k"], json!(5));
        assert!(changes.is_empty(), "{changes:?}");
        assert!(
            !ClaudeModel::of("us.anthropic.claude-opus-4-7")
                .unwrap()
                .always_thinks()
        );
    }

    #[test]
    fn sonnet_5_5_chooses_its_own_tools() {
        let body = json!({"model": "claude-sonnet-5-5", "max_tokens": 800,
            "tools": [{"name": "w", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "w", "disable_parallel_tool_use": true},
            "messages": [{"role": "user", "content": "hi"}]});
        let request = parse_messages_request(body.to_string().as_bytes(), None).unwrap();
        let InvokeBody { body, changes } =
            invoke_body(&request, ClaudeModel::of("us.anthropic.claude-sonnet-5-5"));
        assert_eq!(
            body["tool_choice"],
            json!({"type": "auto", "disable_parallel_tool_use": true})
        );
        assert_eq!(changes, ["tool_choice.tool → auto"]);
        let InvokeBody { body, .. } =
            invoke_body(&request, ClaudeModel::of("us.anthropic.claude-opus-5"));
        assert_eq!(body["tool_choice"]["type"], "tool");
    }
}
