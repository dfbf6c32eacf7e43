//! What a deployment can serve: its mode (chat or embedding), its model family and the request
//! features it takes, from LiteLLM's `model_info` (`mode`, `supports_*`) where the config says,
//! else from the model id.
//!
//! The router skips a deployment that cannot serve a request like one that is full
//! ([`crate::router::fit`]); these are the facts it reads.

use std::fmt;

/// The kind of call a deployment answers: LiteLLM's `model_info.mode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Chat completions (LiteLLM's `chat`, and `completion`, which this gateway serves as chat).
    Chat,
    /// Embeddings.
    Embedding,
    /// A mode LiteLLM knows but this gateway serves no route for (`image_generation`, `rerank`,
    /// …): the deployment loads and is never selected.
    Unserved(&'static str),
}

/// LiteLLM's `model_info.mode` values: the two served here and those that load but are never
/// selected.
const UNSERVED_MODES: &[&str] = &[
    "image_generation",
    "audio_transcription",
    "audio_speech",
    "moderation",
    "rerank",
    "batch",
    "responses",
    "realtime",
    "video_generation",
];

impl Mode {
    /// The mode named `name` in `model_info.mode`; `Err` lists the known names.
    pub fn parse(name: &str) -> Result<Mode, String> {
        match name {
            "chat" | "completion" => Ok(Mode::Chat),
            "embedding" => Ok(Mode::Embedding),
            other => UNSERVED_MODES
                .iter()
                .find(|m| **m == other)
                .map(|m| Mode::Unserved(m))
                .ok_or_else(|| {
                    format!(
                        "unknown mode {other:?}: use chat, completion or embedding (or one of LiteLLM's: {})",
                        UNSERVED_MODES.join(", ")
                    )
                }),
        }
    }

    /// The mode of a model id when the config names none: embedding models say so in their id
    /// (`amazon.titan-embed-text-v2:0`, `cohere.embed-english-v3`, `text-embedding-3-small`).
    pub fn of_model(model: &str) -> Mode {
        if model.to_ascii_lowercase().contains("embed") {
            Mode::Embedding
        } else {
            Mode::Chat
        }
    }

    /// LiteLLM's name of the mode.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Chat => "chat",
            Mode::Embedding => "embedding",
            Mode::Unserved(name) => name,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a model, as Bedrock's model ids name it: what decides whether a model-native body
/// (InvokeModel's) can go to a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelFamily {
    Anthropic,
    Amazon,
    Meta,
    Mistral,
    Cohere,
    DeepSeek,
    Ai21,
    OpenAi,
    Qwen,
    Writer,
}

/// The providers of Bedrock model ids (`<provider>.<model>`), with their family.
const FAMILIES: &[(&str, ModelFamily)] = &[
    ("anthropic", ModelFamily::Anthropic),
    ("amazon", ModelFamily::Amazon),
    ("meta", ModelFamily::Meta),
    ("mistral", ModelFamily::Mistral),
    ("cohere", ModelFamily::Cohere),
    ("deepseek", ModelFamily::DeepSeek),
    ("ai21", ModelFamily::Ai21),
    ("openai", ModelFamily::OpenAi),
    ("qwen", ModelFamily::Qwen),
    ("writer", ModelFamily::Writer),
];

impl ModelFamily {
    /// The family of a Bedrock model id, inference-profile id or ARN; `None` when the id names
    /// no provider Bedrock knows (a custom or imported model's ARN).
    pub fn of_bedrock_model(model: &str) -> Option<ModelFamily> {
        let provider = crate::catalogue::base_id(model).split('.').next()?;
        FAMILIES
            .iter()
            .find(|(name, _)| *name == provider)
            .map(|(_, family)| *family)
    }

    /// The provider name of the family in Bedrock's model ids.
    pub fn as_str(self) -> &'static str {
        FAMILIES
            .iter()
            .find(|(_, family)| *family == self)
            .map_or("unknown", |(name, _)| name)
    }
}

impl fmt::Display for ModelFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A feature of a request that not every model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Tool definitions or tool calls (`supports_function_calling`).
    Tools,
    /// Image input (`supports_vision`).
    Images,
    /// Document (PDF) input (`supports_pdf_input`).
    Documents,
    /// Extended thinking / reasoning (`supports_reasoning`).
    Reasoning,
}

impl Feature {
    /// LiteLLM's `model_info` key that declares the feature.
    pub fn key(self) -> &'static str {
        match self {
            Feature::Tools => "supports_function_calling",
            Feature::Images => "supports_vision",
            Feature::Documents => "supports_pdf_input",
            Feature::Reasoning => "supports_reasoning",
        }
    }

    /// What the feature is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Feature::Tools => "tools",
            Feature::Images => "image input",
            Feature::Documents => "document input",
            Feature::Reasoning => "reasoning",
        }
    }
}

/// The features a deployment takes. A chat deployment takes every feature the config does not
/// deny (`supports_vision: false`, …): the upstream is the judge of the rest, and a wrong
/// guess here would turn away requests the model serves. An embedding deployment takes none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub tools: bool,
    pub images: bool,
    pub documents: bool,
    pub reasoning: bool,
}

impl Capabilities {
    /// Every feature.
    pub const ALL: Capabilities = Capabilities {
        tools: true,
        images: true,
        documents: true,
        reasoning: true,
    };

    /// No feature.
    pub const NONE: Capabilities = Capabilities {
        tools: false,
        images: false,
        documents: false,
        reasoning: false,
    };

    /// Whether `feature` is taken.
    pub fn takes(self, feature: Feature) -> bool {
        match feature {
            Feature::Tools => self.tools,
            Feature::Images => self.images,
            Feature::Documents => self.documents,
            Feature::Reasoning => self.reasoning,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_litellm_names() {
        assert_eq!(Mode::parse("chat"), Ok(Mode::Chat));
        assert_eq!(Mode::parse("completion"), Ok(Mode::Chat));
        assert_eq!(Mode::parse("embedding"), Ok(Mode::Embedding));
        assert_eq!(Mode::parse("rerank"), Ok(Mode::Unserved("rerank")));
        let error = Mode::parse("embeddings").unwrap_err();
        assert!(error.contains("unknown mode \"embeddings\""), "{error}");
        assert!(error.contains("embedding"), "{error}");
    }

    #[test]
    fn embedding_models_are_told_by_their_id() {
        assert_eq!(
            Mode::of_model("amazon.titan-embed-text-v2:0"),
            Mode::Embedding
        );
        assert_eq!(Mode::of_model("cohere.embed-english-v3"), Mode::Embedding);
        assert_eq!(Mode::of_model("text-embedding-3-small"), Mode::Embedding);
        assert_eq!(Mode::of_model("us.anthropic.claude-sonnet-4-6"), Mode::Chat);
    }

    #[test]
    fn families_come_from_model_ids_profiles_and_arns() {
        let cases = [
            (
                "anthropic.claude-3-haiku-20240307-v1:0",
                Some(ModelFamily::Anthropic),
            ),
            (
                "us.anthropic.claude-sonnet-4-6",
                Some(ModelFamily::Anthropic),
            ),
            (
                "global.anthropic.claude-opus-4-5",
                Some(ModelFamily::Anthropic),
            ),
            (
                "us-gov.meta.llama3-8b-instruct-v1:0",
                Some(ModelFamily::Meta),
            ),
            ("eu.amazon.nova-pro-v1:0", Some(ModelFamily::Amazon)),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0",
                Some(ModelFamily::Amazon),
            ),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/mistral.mistral-large-2402-v1:0",
                Some(ModelFamily::Mistral),
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:imported-model/abc123",
                None,
            ),
            ("llama3", None),
        ];
        for (model, family) in cases {
            assert_eq!(ModelFamily::of_bedrock_model(model), family, "{model}");
        }
        assert_eq!(ModelFamily::Anthropic.to_string(), "anthropic");
    }

    #[test]
    fn capabilities_answer_per_feature() {
        let no_vision = Capabilities {
            images: false,
            ..Capabilities::ALL
        };
        assert!(no_vision.takes(Feature::Tools));
        assert!(!no_vision.takes(Feature::Images));
        assert!(!Capabilities::NONE.takes(Feature::Reasoning));
        assert_eq!(Feature::Images.key(), "supports_vision");
    }
}
