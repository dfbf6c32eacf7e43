//! Embeddings on Bedrock through InvokeModel, each family in its own body:
//!
//! | model                      | per call      | body                                                         |
//! |----------------------------|---------------|--------------------------------------------------------------|
//! | Amazon Titan Text Embeddings (`amazon.titan-embed-*`) | one text | `inputText`, `dimensions`, `normalize: true`  |
//! | Cohere Embed (`cohere.embed-*`) | up to 96 texts | `texts`, `input_type: search_document`, `output_dimension` (v4), `embedding_types: [float]` |
//!
//! A Titan deployment given several texts makes one call per text, in order (the embeddings
//! surface splits such requests first, so each text is a request against RPM of its own).
//! Token ids are refused: Bedrock's models read text. Titan reports its input tokens; Cohere
//! reports none in its body, so its count is the estimate (characters / 4).

use aws_smithy_types::Blob;
use serde_json::{Value, json};

use super::BedrockProvider;
use super::invoke::convert_sdk_error;
use crate::config::Deployment;
use crate::openai::{Embedding, EmbeddingsRequest, EmbeddingsResponse, EmbeddingsUsage, Vector};
use crate::provider::{Completion, ProviderError, Reply};

/// The most texts one Cohere call takes.
pub const COHERE_BATCH: usize = 96;

/// How a Bedrock embedding model takes its texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddingModel {
    /// One text per call (Titan Text Embeddings); V2 takes `dimensions` and `normalize`, V1
    /// (and G1) only `inputText` and answers 1,536 dimensions.
    Titan { v2: bool },
    /// A batch per call (Cohere); v4 takes `output_dimension`, v3 answers 1,024 dimensions.
    Cohere { v4: bool },
}

impl EmbeddingModel {
    /// The kind of `model`, when it is a text embedding model this gateway maps (Titan's
    /// image and multimodal models are not).
    pub fn of(model: &str) -> Option<EmbeddingModel> {
        let id = crate::catalogue::base_id(model);
        if id.starts_with("amazon.titan-embed-text-v2") {
            return Some(EmbeddingModel::Titan { v2: true });
        }
        if id.starts_with("amazon.titan-embed-text-v1")
            || id.starts_with("amazon.titan-embed-g1-text")
        {
            return Some(EmbeddingModel::Titan { v2: false });
        }
        id.starts_with("cohere.embed")
            .then(|| EmbeddingModel::Cohere {
                v4: id.starts_with("cohere.embed-v4"),
            })
    }

    /// Whether the model answers vectors of `dimensions`.
    pub fn takes_dimensions(self, dimensions: u32) -> bool {
        let sizes: &[u32] = match self {
            EmbeddingModel::Titan { v2: true } => &[256, 512, 1024],
            EmbeddingModel::Titan { v2: false } => &[1536],
            EmbeddingModel::Cohere { v4: true } => &[256, 512, 1024, 1536],
            EmbeddingModel::Cohere { v4: false } => &[1024],
        };
        sizes.contains(&dimensions)
    }

    /// How many texts one call takes.
    pub fn batch(self) -> usize {
        match self {
            EmbeddingModel::Titan { .. } => 1,
            EmbeddingModel::Cohere { .. } => COHERE_BATCH,
        }
    }
}

/// The InvokeModel body for `texts`.
pub fn embedding_body(kind: EmbeddingModel, texts: &[&str], dimensions: Option<u32>) -> Value {
    match kind {
        EmbeddingModel::Titan { v2: false } => {
            json!({"inputText": texts.first().copied().unwrap_or_default()})
        }
        EmbeddingModel::Titan { v2: true } => {
            let mut body =
                json!({"inputText": texts.first().copied().unwrap_or_default(), "normalize": true});
            if let Some(dimensions) = dimensions {
                body["dimensions"] = json!(dimensions);
            }
            body
        }
        EmbeddingModel::Cohere { v4 } => {
            let mut body = json!({"texts": texts, "input_type": "search_document",
                "embedding_types": ["float"]});
            if let (true, Some(dimensions)) = (v4, dimensions) {
                body["output_dimension"] = json!(dimensions);
            }
            body
        }
    }
}

/// The vectors and input tokens of a reply body (`texts` were sent).
pub fn read_reply(
    kind: EmbeddingModel,
    body: &[u8],
    texts: &[&str],
) -> Result<(Vec<Vec<f32>>, u64), ProviderError> {
    let unreadable = |what: &str| ProviderError::Upstream {
        message: format!("unreadable embedding reply from Bedrock: {what}"),
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| unreadable(&e.to_string()))?;
    let floats = |v: &Value| -> Option<Vec<f32>> {
        v.as_array()?
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32))
            .collect()
    };
    match kind {
        EmbeddingModel::Titan { .. } => {
            let vector = value
                .get("embedding")
                .and_then(floats)
                .ok_or_else(|| unreadable("no embedding"))?;
            let tokens = value.get("inputTextTokenCount").and_then(Value::as_u64);
            Ok((vec![vector], tokens.unwrap_or_else(|| estimate(texts))))
        }
        EmbeddingModel::Cohere { .. } => {
            let embeddings = value
                .get("embeddings")
                .ok_or_else(|| unreadable("no embeddings"))?;
            // `embeddings_by_type` answers {"float": [...]}, `embeddings_floats` the list.
            let list = embeddings.get("float").unwrap_or(embeddings);
            let vectors: Option<Vec<Vec<f32>>> = list
                .as_array()
                .and_then(|l| l.iter().map(floats).collect::<Option<_>>());
            let vectors =
                vectors.ok_or_else(|| unreadable("embeddings is not a list of vectors"))?;
            if vectors.len() != texts.len() {
                return Err(unreadable("not one vector per text"));
            }
            Ok((vectors, estimate(texts)))
        }
    }
}

fn estimate(texts: &[&str]) -> u64 {
    texts
        .iter()
        .map(|t| (t.chars().count() as u64).div_ceil(4))
        .sum()
}

impl BedrockProvider {
    /// Embeds `request`'s texts with `deployment`'s model: one call per batch the model takes.
    pub async fn embed(
        &self,
        deployment: &Deployment,
        request: &EmbeddingsRequest,
    ) -> Result<Completion, ProviderError> {
        let kind = EmbeddingModel::of(&deployment.model).ok_or_else(|| ProviderError::Misconfigured {
            message: format!(
                "{} is not an embedding model this gateway maps (Amazon Titan Text Embeddings or Cohere Embed)",
                deployment.model
            ),
        })?;
        let texts = request.texts().ok_or_else(|| {
            ProviderError::bad_param(
                "input",
                "input: token ids are only taken by OpenAI-compatible deployments; Bedrock's embedding models read text",
            )
        })?;
        let client = self.client(deployment)?;
        let (mut data, mut tokens) = (Vec::with_capacity(texts.len()), 0);
        for batch in texts.chunks(kind.batch()) {
            let body = embedding_body(kind, batch, request.dimensions);
            let output = client
                .invoke_model()
                .model_id(&deployment.model)
                .content_type("application/json")
                .accept("application/json")
                .body(Blob::new(body.to_string()))
                .send()
                .await
                .map_err(convert_sdk_error)?;
            let (vectors, used) = read_reply(kind, output.body.as_ref(), batch)?;
            tokens += used;
            for vector in vectors {
                data.push(Embedding {
                    object: "embedding".into(),
                    index: data.len(),
                    embedding: Vector::Floats(vector),
                    extra: Default::default(),
                });
            }
        }
        let usage = EmbeddingsUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        };
        Ok(Completion {
            usage: Some(crate::openai::Usage::new(tokens, 0)),
            response: Reply::Embeddings(Box::new(EmbeddingsResponse {
                object: "list".into(),
                data,
                model: deployment.model.clone(),
                usage,
                extra: Default::default(),
            })),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_gets_its_own_body() {
        assert_eq!(
            EmbeddingModel::of("amazon.titan-embed-text-v1"),
            Some(EmbeddingModel::Titan { v2: false })
        );
        assert_eq!(EmbeddingModel::of("amazon.titan-embed-image-v1"), None);
        assert!(!EmbeddingModel::Cohere { v4: false }.takes_dimensions(256));
        assert!(EmbeddingModel::Titan { v2: true }.takes_dimensions(256));
        assert_eq!(
            embedding_body(EmbeddingModel::Titan { v2: false }, &["hi"], Some(1536)),
            json!({"inputText": "hi"})
        );
        assert_eq!(
            EmbeddingModel::of("amazon.titan-embed-text-v2:0"),
            Some(EmbeddingModel::Titan { v2: true })
        );
        assert_eq!(
            EmbeddingModel::of("us.cohere.embed-v4:0"),
            Some(EmbeddingModel::Cohere { v4: true })
        );
        assert_eq!(EmbeddingModel::of("us.amazon.nova-lite-v1:0"), None);
        assert_eq!(
            embedding_body(EmbeddingModel::Titan { v2: true }, &["hi"], Some(256)),
            json!({"inputText": "hi", "normalize": true, "dimensions": 256})
        );
        assert_eq!(
            embedding_body(EmbeddingModel::Cohere { v4: false }, &["a", "b"], Some(256)),
            json!({"texts": ["a", "b"], "input_type": "search_document", "embedding_types": ["float"]})
        );
    }

    #[test]
    fn replies_give_one_vector_per_text() {
        let titan = br#"{"embedding": [0.5, -0.5], "inputTextTokenCount": 3}"#;
        assert_eq!(
            read_reply(EmbeddingModel::Titan { v2: true }, titan, &["x"]).unwrap(),
            (vec![vec![0.5, -0.5]], 3)
        );
        let by_type = br#"{"id": "i", "embeddings": {"float": [[1.0], [2.0]]}, "response_type": "embeddings_by_type"}"#;
        let cohere = EmbeddingModel::Cohere { v4: false };
        assert_eq!(
            read_reply(cohere, by_type, &["abcd", "ef"]).unwrap(),
            (vec![vec![1.0], vec![2.0]], 2)
        );
        let floats = br#"{"embeddings": [[1.0]], "response_type": "embeddings_floats"}"#;
        assert!(read_reply(cohere, floats, &["a", "b"]).is_err());
    }
}
