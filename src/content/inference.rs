//! The sampling settings a conversation is generated with.

/// Converse `inferenceConfig`. Everything unset is the model's default.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InferenceSettings {
    /// `maxTokens`: the output cap.
    pub max_tokens: Option<u64>,
    /// `temperature`.
    pub temperature: Option<f64>,
    /// `topP`.
    pub top_p: Option<f64>,
    /// `stopSequences`; empty means none.
    pub stop_sequences: Vec<String>,
    /// Sample from the k likeliest tokens: no `inferenceConfig` field, each model's own in
    /// `additionalModelRequestFields`.
    pub top_k: Option<u64>,
}

impl InferenceSettings {
    /// Whether nothing of `inferenceConfig` is set, so an upstream can leave it out entirely
    /// (`top_k` is not in it).
    pub fn is_default(&self) -> bool {
        self.max_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.stop_sequences.is_empty()
    }
}

/// How hard a model is asked to think.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Low,
    Medium,
    High,
}

impl Effort {
    /// The effort a name says (`low`, `medium`, `high`; `minimal` is low, `xhigh` and `max`
    /// are high), if any.
    pub fn parse(name: &str) -> Option<Effort> {
        match name {
            "minimal" | "low" => Some(Effort::Low),
            "medium" => Some(Effort::Medium),
            "high" | "xhigh" | "max" => Some(Effort::High),
            _ => None,
        }
    }

    /// The name Converse's reasoning configs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
        }
    }

    /// A thinking budget for models that take only a budget: 1,024, 2,048 or 4,096 tokens
    /// (LiteLLM's).
    pub fn budget_tokens(self) -> u64 {
        match self {
            Effort::Low => 1024,
            Effort::Medium => 2048,
            Effort::High => 4096,
        }
    }
}

/// A request to think before answering (Anthropic's `thinking`; OpenAI's `reasoning_effort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thinking {
    pub effort: Effort,
    /// The budget the client set (`thinking.budget_tokens`), if it set one.
    pub budget_tokens: Option<u64>,
}
