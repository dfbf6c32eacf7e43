//! InvokeModel on the embedding models: Amazon Titan Text Embeddings V2 (one `inputText` per
//! call) and Cohere Embed v3 / v4 (a batch of `texts`), checked as Bedrock documents them and
//! answered with deterministic vectors: the same text, model, dimensions and seed always give
//! the same unit-length vector.
//!
//! | model     | request                                                                 | response                                                      |
//! |-----------|-------------------------------------------------------------------------|---------------------------------------------------------------|
//! | Titan V2  | `inputText` (≤ 50,000 chars), `dimensions` 256/512/1024, `normalize`, `embeddingTypes` float/binary | `embedding`, `embeddingsByType`, `inputTextTokenCount` |
//! | Cohere v3 | `texts` (1–96, ≤ 2,048 chars each), `input_type`, `truncate`, `embedding_types` | `id`, `embeddings`, `response_type`, `texts` (1,024 dims)  |
//! | Cohere v4 | the same, plus `output_dimension` 256/512/1024/1536                       | the same (1,536 dims unless asked)                            |

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::sandbox::catalogue::ModelFamily;
use crate::sandbox::emulated_model::{self, Prompt};
use crate::sandbox::error::BedrockError;
use crate::sandbox::model_call::Admitted;
use crate::sandbox::request_fields::{self, invalid};

/// What an embedding call asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbeddingAsk {
    pub texts: Vec<String>,
    pub dimensions: usize,
    /// Titan's `embeddingTypes` includes `binary`.
    pub binary: bool,
    /// Cohere's `embedding_types` was given: answer `embeddings_by_type`.
    pub by_type: bool,
}

const TITAN_MAX_CHARS: usize = 50_000;
const COHERE_MAX_TEXTS: usize = 96;
const COHERE_MAX_CHARS: usize = 2_048;
const COHERE_INPUT_TYPES: &[&str] = &[
    "search_document",
    "search_query",
    "classification",
    "clustering",
];

/// Reads an embedding body for `family` as the prompt the quotas count (its input tokens, no
/// output).
pub fn parse_request(
    family: ModelFamily,
    raw: &[u8],
    seed: u64,
    model_id: &str,
) -> Result<Prompt, BedrockError> {
    let map = request_fields::object(raw)?;
    let ask = match family {
        ModelFamily::TitanEmbedding => titan(&map)?,
        _ => cohere(&map, model_id)?,
    };
    let chars: usize = ask.texts.iter().map(|t| t.chars().count()).sum();
    Ok(Prompt {
        input_tokens: emulated_model::estimate_tokens(chars).max(1),
        max_tokens: Some(0),
        digest: emulated_model::digest(&[&seed.to_le_bytes(), model_id.as_bytes(), raw]),
        embedding: Some(ask),
        ..Prompt::default()
    })
}

fn titan(map: &Map<String, Value>) -> Result<EmbeddingAsk, BedrockError> {
    let text = match map.get("inputText") {
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err(invalid("inputText", "Member must be a string")),
        None => {
            return Err(BedrockError::Validation(
                "Malformed input request: #: required key [inputText] not found, please reformat your input and try again.".into(),
            ));
        }
    };
    if text.chars().count() > TITAN_MAX_CHARS {
        return Err(BedrockError::Validation(format!(
            "Malformed input request: #/inputText: expected maxLength: {TITAN_MAX_CHARS}, actual: {}, please reformat your input and try again.",
            text.chars().count()
        )));
    }
    let dimensions = match map.get("dimensions") {
        None => 1024,
        Some(Value::Number(n)) if matches!(n.as_u64(), Some(256 | 512 | 1024)) => {
            n.as_u64().unwrap_or(1024) as usize
        }
        Some(other) => {
            return Err(BedrockError::Validation(format!(
                "Malformed input request: #/dimensions: {other} is not a valid enum value, please reformat your input and try again."
            )));
        }
    };
    let types = request_fields::optional_strings(map, "embeddingTypes", "embeddingTypes")?;
    Ok(EmbeddingAsk {
        texts: vec![text],
        dimensions,
        binary: types.iter().any(|t| t == "binary"),
        by_type: false,
    })
}

fn cohere(map: &Map<String, Value>, model_id: &str) -> Result<EmbeddingAsk, BedrockError> {
    let texts = request_fields::optional_strings(map, "texts", "texts")?;
    if texts.is_empty() || texts.len() > COHERE_MAX_TEXTS {
        return Err(BedrockError::Validation(format!(
            "Malformed input request: #/texts: expected minItems: 1, maxItems: {COHERE_MAX_TEXTS}, actual: {}, please reformat your input and try again.",
            texts.len()
        )));
    }
    if let Some(long) = texts.iter().find(|t| t.chars().count() > COHERE_MAX_CHARS) {
        return Err(BedrockError::Validation(format!(
            "Malformed input request: #/texts: expected maxLength: {COHERE_MAX_CHARS}, actual: {}, please reformat your input and try again.",
            long.chars().count()
        )));
    }
    match map.get("input_type").and_then(Value::as_str) {
        Some(kind) if COHERE_INPUT_TYPES.contains(&kind) => {}
        Some(_) | None => {
            return Err(BedrockError::Validation(
                "Malformed input request: #/input_type: must be one of search_document, search_query, classification, clustering, please reformat your input and try again.".into(),
            ));
        }
    }
    let v4 = crate::catalogue::base_id(model_id).starts_with("cohere.embed-v4");
    let dimensions = match map.get("output_dimension") {
        None if v4 => 1536,
        None => 1024,
        Some(Value::Number(n)) if v4 && matches!(n.as_u64(), Some(256 | 512 | 1024 | 1536)) => {
            n.as_u64().unwrap_or(1536) as usize
        }
        Some(_) => {
            return Err(BedrockError::Validation(
                "Malformed input request: #/output_dimension: must be one of 256, 512, 1024, 1536 (Embed v4 only), please reformat your input and try again.".into(),
            ));
        }
    };
    Ok(EmbeddingAsk {
        texts,
        dimensions,
        binary: false,
        by_type: map.contains_key("embedding_types"),
    })
}

/// A unit vector of `dimensions` drawn from the text, model and seed.
pub fn vector(seed: u64, model_id: &str, text: &str, dimensions: usize) -> Vec<f64> {
    let digest =
        emulated_model::digest(&[&seed.to_le_bytes(), model_id.as_bytes(), text.as_bytes()]);
    let mut rng = StdRng::seed_from_u64(digest);
    let raw: Vec<f64> = (0..dimensions)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let norm = raw
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    // Rounded as a model's float32 output reads in JSON.
    raw.iter().map(|x| f64::from((x / norm) as f32)).collect()
}

/// The InvokeModel response body of an embedding call.
pub fn response(family: ModelFamily, model_id: &str, seed: u64, admitted: &Admitted) -> Value {
    let ask = admitted.embedding.clone().unwrap_or_default();
    let vectors: Vec<Vec<f64>> = ask
        .texts
        .iter()
        .map(|t| vector(seed, model_id, t, ask.dimensions))
        .collect();
    match family {
        ModelFamily::TitanEmbedding => {
            let embedding = vectors.into_iter().next().unwrap_or_default();
            let mut by_type = json!({ "float": embedding });
            if ask.binary {
                let bits: Vec<u8> = embedding.iter().map(|x| u8::from(*x > 0.0)).collect();
                by_type["binary"] = json!(bits);
            }
            json!({ "embedding": embedding, "embeddingsByType": by_type,
                "inputTextTokenCount": admitted.input_tokens })
        }
        _ if ask.by_type => json!({ "id": admitted.request_id, "texts": ask.texts,
            "response_type": "embeddings_by_type", "embeddings": { "float": vectors } }),
        _ => json!({ "id": admitted.request_id, "texts": ask.texts,
            "response_type": "embeddings_floats", "embeddings": vectors }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(family: ModelFamily, body: Value, model: &str) -> Result<Prompt, BedrockError> {
        parse_request(family, body.to_string().as_bytes(), 1, model)
    }

    #[test]
    fn titan_takes_one_text_in_its_dimensions() {
        let prompt = parse(
            ModelFamily::TitanEmbedding,
            json!({"inputText": "hello world!", "dimensions": 256}),
            "amazon.titan-embed-text-v2:0",
        )
        .unwrap();
        let ask = prompt.embedding.unwrap();
        assert_eq!(
            (ask.texts.len(), ask.dimensions, prompt.input_tokens),
            (1, 256, 3)
        );
        let error = parse(
            ModelFamily::TitanEmbedding,
            json!({"inputText": "x", "dimensions": 300}),
            "m",
        )
        .unwrap_err();
        assert!(error.to_string().contains("#/dimensions"), "{error}");
        assert!(parse(ModelFamily::TitanEmbedding, json!({"texts": ["x"]}), "m").is_err());
    }

    #[test]
    fn cohere_takes_a_batch_with_an_input_type() {
        let body = json!({"texts": ["a", "b"], "input_type": "search_document"});
        let ask = parse(
            ModelFamily::CohereEmbedding,
            body,
            "cohere.embed-english-v3",
        )
        .unwrap()
        .embedding
        .unwrap();
        assert_eq!((ask.texts.len(), ask.dimensions), (2, 1024));
        let v4 = json!({"texts": ["a"], "input_type": "search_query", "output_dimension": 512});
        assert_eq!(
            parse(
                ModelFamily::CohereEmbedding,
                v4.clone(),
                "cohere.embed-v4:0"
            )
            .unwrap()
            .embedding
            .unwrap()
            .dimensions,
            512
        );
        assert!(parse(ModelFamily::CohereEmbedding, v4, "cohere.embed-english-v3").is_err());
        assert!(
            parse(
                ModelFamily::CohereEmbedding,
                json!({"texts": ["a"]}),
                "cohere.embed-english-v3"
            )
            .is_err()
        );
        let many = json!({"texts": vec!["a"; 97], "input_type": "clustering"});
        assert!(
            parse(
                ModelFamily::CohereEmbedding,
                many,
                "cohere.embed-english-v3"
            )
            .is_err()
        );
    }

    #[test]
    fn vectors_are_deterministic_unit_vectors() {
        let a = vector(1, "m", "hello", 256);
        assert_eq!(a, vector(1, "m", "hello", 256));
        assert_ne!(a, vector(1, "m", "bye", 256));
        let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
}
