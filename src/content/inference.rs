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
}

impl InferenceSettings {
    /// Whether nothing is set, so an upstream can leave its config out entirely.
    pub fn is_default(&self) -> bool {
        self.max_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.stop_sequences.is_empty()
    }
}
