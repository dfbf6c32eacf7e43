//! Whether a deployment can serve a request at all: the capability filter of a selection.
//!
//! A surface says what its request needs ([`Needs`]: the mode, the model family for a
//! model-native body, the features); a deployment that cannot serve it is passed over like one
//! that is full, and a chain with no deployment able to serve it ends in a client error
//! ([`super::Verdict::Unfit`]) instead of a 429 that waiting would never cure.

use std::fmt;

use crate::config::{Deployment, Feature, Mode, ModelFamily};

/// What a request needs of the deployment that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    pub mode: Mode,
    /// A model-native body (InvokeModel's) goes only to models of its family.
    pub family: Option<ModelFamily>,
    pub features: Vec<Feature>,
}

impl Needs {
    /// A chat request with no feature beyond text.
    pub fn chat() -> Needs {
        Needs {
            mode: Mode::Chat,
            family: None,
            features: Vec::new(),
        }
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
    needs
        .features
        .iter()
        .find(|f| !deployment.capabilities.takes(**f))
        .map(|f| Unfit::Feature(*f))
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
