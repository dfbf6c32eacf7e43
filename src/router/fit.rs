//! Whether a deployment can serve a request at all: the capability filter of a selection.
//!
//! A surface says what its request needs ([`Needs`]: the mode, the model family for a
//! model-native body, the features); a deployment that cannot serve it is passed over like one
//! that is full, and a chain with no deployment able to serve it ends in a client error
//! ([`super::Verdict::Unfit`]) instead of a 429 that waiting would never cure.
//!
//! Features are what the config says a model takes (`model_info.supports_*`); [`Ask`]s are
//! options only some upstreams can map at all, decided by the deployment's kind and model
//! ([`crate::provider::bedrock::features`]).

use std::fmt;

use crate::config::{Deployment, Feature, Mode, ModelFamily, ProviderKind};
use crate::content::ServiceTier;
use crate::provider::bedrock::embeddings::EmbeddingModel;
use crate::provider::bedrock::features::{takes_service_tier, thinks_on_request, top_k_fields};

/// What a request needs of the deployment that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    pub mode: Mode,
    /// A model-native body (InvokeModel's) goes only to models of its family.
    pub family: Option<ModelFamily>,
    pub features: Vec<Feature>,
    pub asks: Vec<Ask>,
}

/// A request option not every upstream can map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// An OpenAI parameter Bedrock has no equivalent for (`logprobs: true`, `n: 2`, …).
    OpenAiParam(&'static str),
    /// A content part of a type Bedrock does not take (`input_audio`, `file`, …).
    Part(String),
    /// `top_k`: a field of the model's own on Bedrock, which not every model has.
    TopK,
    /// A Bedrock service tier, which not every model has.
    ServiceTier(ServiceTier),
    /// Embedding inputs as token ids, which only OpenAI-compatible upstreams read.
    TokenIds,
    /// Embeddings of this length, which each Bedrock model answers in its own few sizes.
    Dimensions(u32),
    /// Thinking (`reasoning_effort`), which only some Bedrock models do on request.
    Reasoning,
}

impl Ask {
    /// The request field that asks for it.
    fn param(&self) -> &'static str {
        match self {
            Ask::OpenAiParam(param) => param,
            Ask::Part(_) => "messages",
            Ask::TopK => "top_k",
            Ask::ServiceTier(_) => "service_tier",
            Ask::TokenIds => "input",
            Ask::Dimensions(_) => "dimensions",
            Ask::Reasoning => "reasoning_effort",
        }
    }

    /// Whether `deployment` can map this option. OpenAI-compatible upstreams are the judges
    /// of their own options: they take every one.
    fn met_by(&self, deployment: &Deployment) -> bool {
        if deployment.provider == ProviderKind::OpenAi {
            return true;
        }
        match self {
            Ask::OpenAiParam(_) | Ask::Part(_) | Ask::TokenIds => false,
            Ask::TopK => top_k_fields(&deployment.model, 1).is_some(),
            Ask::ServiceTier(tier) => takes_service_tier(&deployment.model, *tier),
            Ask::Reasoning => thinks_on_request(&deployment.model),
            Ask::Dimensions(size) => {
                EmbeddingModel::of(&deployment.model).is_some_and(|m| m.takes_dimensions(*size))
            }
        }
    }
}

impl Needs {
    /// A chat request with no feature beyond text.
    pub fn chat() -> Needs {
        Needs {
            mode: Mode::Chat,
            family: None,
            features: Vec::new(),
            asks: Vec::new(),
        }
    }

    /// The same needs with `ask`.
    pub fn asking(mut self, ask: Ask) -> Needs {
        if !self.asks.contains(&ask) {
            self.asks.push(ask);
        }
        self
    }

    /// The same needs with `feature` when `needed`.
    pub fn with(mut self, feature: Feature, needed: bool) -> Needs {
        if needed && !self.features.contains(&feature) {
            self.features.push(feature);
        }
        self
    }
}

/// Why a deployment cannot serve a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfit {
    /// It answers another kind of call.
    Mode { needed: Mode, served: Mode },
    /// The body is model-native and the model is of another family (or of none known).
    Family {
        needed: ModelFamily,
        served: Option<ModelFamily>,
    },
    /// The config says the model does not take this feature.
    Feature(Feature),
    /// The deployment's upstream cannot map this option; `model` is the deployment's.
    Ask { ask: Ask, model: String },
}

impl fmt::Display for Unfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unfit::Mode { needed, served } => write!(
                f,
                "it serves {served} calls (model_info.mode), not {needed}"
            ),
            Unfit::Family {
                needed,
                served: Some(served),
            } => write!(
                f,
                "the body is in the {needed} models' native format and the model is a {served} model"
            ),
            Unfit::Family {
                needed,
                served: None,
            } => write!(
                f,
                "the body is in the {needed} models' native format and the model's family is not known"
            ),
            Unfit::Feature(feature) => write!(
                f,
                "the request uses {} and the model does not take it (model_info.{}: false)",
                feature.describe(),
                feature.key()
            ),
            Unfit::Ask { ask, model } => match ask {
                Ask::OpenAiParam(param) => write!(
                    f,
                    "it sets {param}, which Bedrock models (here {model}) have no equivalent for: send it to an OpenAI-compatible deployment, remove it, or turn on drop_params"
                ),
                Ask::Part(kind) => write!(
                    f,
                    "a message holds a {kind:?} part, which Bedrock models (here {model}) do not take: send it to an OpenAI-compatible deployment"
                ),
                Ask::TopK => write!(
                    f,
                    "it sets top_k, which {model} takes no field for on Bedrock: use another model, remove it, or turn on drop_params"
                ),
                Ask::Reasoning => write!(
                    f,
                    "it asks to reason (reasoning_effort), which {model} does not do on Bedrock (Claude 3.7 and later, Nova 2 do): use another model, remove it, or turn on drop_params"
                ),
                Ask::Dimensions(size) => write!(
                    f,
                    "it asks for {size} dimensions, which {model} does not answer on Bedrock (Titan V2: 256, 512, 1024; Cohere v3: 1024; Cohere v4: 256 to 1536): use another size or model"
                ),
                Ask::TokenIds => write!(
                    f,
                    "its input is token ids, which Bedrock models (here {model}) do not read: send text, or use an OpenAI-compatible deployment"
                ),
                Ask::ServiceTier(tier) => write!(
                    f,
                    "it asks for the {} service tier, which {model} does not have on Bedrock: use another model or tier, or turn on drop_params",
                    tier.as_str()
                ),
            },
        }
    }
}

impl Unfit {
    /// The request field this is about, for the client's error: the option's own, else
    /// `model` (the group cannot serve the request as it is).
    pub fn param(&self) -> &'static str {
        match self {
            Unfit::Ask { ask, .. } => ask.param(),
            Unfit::Mode { .. } | Unfit::Family { .. } | Unfit::Feature(_) => "model",
        }
    }
}

/// Why `deployment` cannot serve a request with `needs`; `None` when it can.
pub fn unfit(deployment: &Deployment, needs: &Needs) -> Option<Unfit> {
    if deployment.mode != needs.mode {
        return Some(Unfit::Mode {
            needed: needs.mode.clone(),
            served: deployment.mode.clone(),
        });
    }
    if let Some(needed) = needs.family
        && deployment.family != Some(needed)
    {
        return Some(Unfit::Family {
            needed,
            served: deployment.family,
        });
    }
    if let Some(feature) = needs
        .features
        .iter()
        .find(|f| !deployment.capabilities.takes(**f))
    {
        return Some(Unfit::Feature(*feature));
    }
    needs
        .asks
        .iter()
        .find(|a| !a.met_by(deployment))
        .map(|ask| Unfit::Ask {
            ask: ask.clone(),
            model: deployment.model.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Capabilities;
    use crate::router::strategy::test_support::deployment;

    fn with(
        mode: Mode,
        family: Option<ModelFamily>,
        capabilities: Capabilities,
    ) -> std::sync::Arc<Deployment> {
        let mut d = (*deployment("d", None, None, None)).clone();
        d.mode = mode;
        d.family = family;
        d.capabilities = capabilities;
        std::sync::Arc::new(d)
    }

    #[test]
    fn a_chat_deployment_serves_a_chat_request() {
        let d = with(Mode::Chat, None, Capabilities::ALL);
        let needs = Needs::chat()
            .with(Feature::Tools, true)
            .with(Feature::Images, true);
        assert_eq!(unfit(&d, &needs), None);
    }

    #[test]
    fn an_embedding_deployment_is_unfit_for_chat() {
        let d = with(Mode::Embedding, None, Capabilities::NONE);
        let reason = unfit(&d, &Needs::chat()).unwrap();
        assert_eq!(
            reason,
            Unfit::Mode {
                needed: Mode::Chat,
                served: Mode::Embedding
            }
        );
        assert_eq!(
            reason.to_string(),
            "it serves embedding calls (model_info.mode), not chat"
        );
    }

    #[test]
    fn a_denied_feature_is_named_with_its_key() {
        let d = with(
            Mode::Chat,
            None,
            Capabilities {
                images: false,
                ..Capabilities::ALL
            },
        );
        assert_eq!(unfit(&d, &Needs::chat().with(Feature::Images, false)), None);
        let reason = unfit(&d, &Needs::chat().with(Feature::Images, true)).unwrap();
        assert_eq!(reason, Unfit::Feature(Feature::Images));
        assert!(
            reason
                .to_string()
                .contains("model_info.supports_vision: false")
        );
    }

    #[test]
    fn a_native_body_needs_its_family() {
        let needs = Needs {
            family: Some(ModelFamily::Anthropic),
            ..Needs::chat()
        };
        let claude = with(Mode::Chat, Some(ModelFamily::Anthropic), Capabilities::ALL);
        let nova = with(Mode::Chat, Some(ModelFamily::Amazon), Capabilities::ALL);
        let unknown = with(Mode::Chat, None, Capabilities::ALL);
        assert_eq!(unfit(&claude, &needs), None);
        assert_eq!(
            unfit(&nova, &needs),
            Some(Unfit::Family {
                needed: ModelFamily::Anthropic,
                served: Some(ModelFamily::Amazon)
            })
        );
        assert!(
            unfit(&unknown, &needs)
                .unwrap()
                .to_string()
                .contains("not known")
        );
    }
}
