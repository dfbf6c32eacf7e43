//! `POST /v1/embeddings`: the request as clients send it and the list that goes back.
//!
//! `input` is a string, a list of strings, a list of token ids or a list of such lists; the
//! last two only OpenAI-compatible upstreams take (Bedrock's models read text). Like chat
//! requests, a client's body keeps its bytes for such upstreams
//! ([`EmbeddingsRequest::original`]), unknown fields included.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::parse::{RequestError, convert_serde_error};

/// A `POST /v1/embeddings` body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: EmbeddingInput,
    /// The vector length asked for (Titan V2: 256, 512 or 1024; Cohere v4: 256 to 1536).
    #[serde(default)]
    pub dimensions: Option<u32>,
    /// `float` (the default) or `base64` (little-endian float32s).
    #[serde(default)]
    pub encoding_format: Option<EncodingFormat>,
    #[serde(default)]
    pub user: Option<String>,
    /// The client's body, when it came from one.
    #[serde(skip)]
    pub original: Option<bytes::Bytes>,
    /// This request is one batch of a split one: its `input` is a part of the original's.
    #[serde(skip)]
    pub batch: bool,
}

/// `input`, in its four shapes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

/// `encoding_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    Float,
    Base64,
}

/// The largest number of inputs one request may hold (OpenAI's limit).
pub const MAX_INPUTS: usize = 2048;

impl EmbeddingsRequest {
    /// The texts, when `input` is text (one or several); `None` for token ids.
    pub fn texts(&self) -> Option<Vec<&str>> {
        match &self.input {
            EmbeddingInput::Text(text) => Some(vec![text.as_str()]),
            EmbeddingInput::Texts(texts) => Some(texts.iter().map(String::as_str).collect()),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenLists(_) => None,
        }
    }

    /// How many vectors the answer holds.
    pub fn len(&self) -> usize {
        match &self.input {
            EmbeddingInput::Text(_) | EmbeddingInput::Tokens(_) => 1,
            EmbeddingInput::Texts(texts) => texts.len(),
            EmbeddingInput::TokenLists(lists) => lists.len(),
        }
    }

    /// Whether there is no input (refused at parse time).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A prompt-size estimate: characters / 4 rounded up, or one token per token id.
    pub fn estimated_input_tokens(&self) -> u64 {
        match &self.input {
            EmbeddingInput::Text(text) => (text.chars().count() as u64).div_ceil(4),
            EmbeddingInput::Texts(texts) => texts
                .iter()
                .map(|t| (t.chars().count() as u64).div_ceil(4))
                .sum(),
            EmbeddingInput::Tokens(tokens) => tokens.len() as u64,
            EmbeddingInput::TokenLists(lists) => lists.iter().map(|l| l.len() as u64).sum(),
        }
    }

    /// The same request for the inputs `range` only (texts), for one call of a split request.
    pub fn slice(&self, range: std::ops::Range<usize>) -> EmbeddingsRequest {
        let input = match &self.input {
            EmbeddingInput::Texts(texts) => EmbeddingInput::Texts(texts[range].to_vec()),
            EmbeddingInput::TokenLists(lists) => EmbeddingInput::TokenLists(lists[range].to_vec()),
            single => single.clone(),
        };
        EmbeddingsRequest {
            input,
            batch: true,
            ..self.clone()
        }
    }

    /// The body for an OpenAI-compatible upstream: the client's as it came
    /// ([`super::raw::splice`]), with `model` set to `model`, floats asked for (the gateway
    /// encodes as the client asked), and `input` this request's own when it is a batch of a
    /// split request.
    pub fn upstream_body(&self, model: &str) -> Vec<u8> {
        let model = serde_json::to_string(model).unwrap_or_default();
        // A batch's own inputs replace the client's; a whole request keeps them as sent.
        let input = self
            .batch
            .then(|| serde_json::to_string(&self.input).unwrap_or_default());
        let mut fields = vec![
            ("model", Some(model.as_str())),
            ("encoding_format", Some("\"float\"")),
        ];
        if let Some(input) = &input {
            fields.push(("input", Some(input)));
        }
        if let Some(body) = self
            .original
            .as_deref()
            .and_then(|o| super::raw::splice(o, &fields))
        {
            return body;
        }
        let mut body = serde_json::json!({"model": model_of(&model), "input": self.input, "encoding_format": "float"});
        if let Some(dimensions) = self.dimensions {
            body["dimensions"] = dimensions.into();
        }
        if let Some(user) = &self.user {
            body["user"] = user.clone().into();
        }
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

/// A JSON string's text back from its JSON.
fn model_of(json: &str) -> String {
    serde_json::from_str(json).unwrap_or_default()
}

/// Parses and validates a `POST /v1/embeddings` body; errors name the field.
pub fn parse_embeddings_request(body: &[u8]) -> Result<EmbeddingsRequest, RequestError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let request: EmbeddingsRequest = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| match convert_serde_error(e) {
            error if error.param.as_deref() == Some("input") && error.message.contains("untagged") => {
                RequestError::at(
                    "input",
                    "input: expected a string, a list of strings, a list of token ids or a list of such lists",
                )
            }
            error => error,
        })?;
    if request.model.is_empty() {
        return Err(RequestError::at("model", "model: must not be empty"));
    }
    if request.is_empty() || request.len() > MAX_INPUTS {
        return Err(RequestError::at(
            "input",
            format!("input: must hold 1 to {MAX_INPUTS} inputs"),
        ));
    }
    if let Some(texts) = request.texts()
        && let Some(i) = texts.iter().position(|t| t.is_empty())
    {
        return Err(RequestError::at(
            format!("input[{i}]"),
            format!("input[{i}]: must not be empty"),
        ));
    }
    if request.dimensions == Some(0) {
        return Err(RequestError::at(
            "dimensions",
            "dimensions: must be at least 1",
        ));
    }
    Ok(request)
}

/// The `list` of embeddings that goes back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsResponse {
    #[serde(default = "list")]
    pub object: String,
    pub data: Vec<Embedding>,
    pub model: String,
    pub usage: EmbeddingsUsage,
    /// An upstream's other fields, as it wrote them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn list() -> String {
    "list".to_owned()
}

/// One vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    #[serde(default = "embedding")]
    pub object: String,
    pub index: usize,
    /// Floats, or (for `encoding_format: base64`) their little-endian float32 bytes in base64.
    pub embedding: Vector,
    /// An upstream's other fields, as it wrote them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn embedding() -> String {
    "embedding".to_owned()
}

/// An embedding as floats or as base64 text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Vector {
    Floats(Vec<f32>),
    Base64(String),
}

impl Vector {
    /// The vector in `format`: base64 is the float32s' little-endian bytes, as OpenAI's.
    pub fn encoded(self, format: EncodingFormat) -> Vector {
        match (self, format) {
            (Vector::Floats(floats), EncodingFormat::Base64) => {
                let bytes: Vec<u8> = floats.iter().flat_map(|f| f.to_le_bytes()).collect();
                Vector::Base64(aws_smithy_types::base64::encode(bytes))
            }
            (vector, _) => vector,
        }
    }
}

/// `usage` of an embeddings call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EmbeddingsUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<EmbeddingsRequest, RequestError> {
        parse_embeddings_request(body.to_string().as_bytes())
    }

    #[test]
    fn inputs_come_in_four_shapes() {
        let one = parse(json!({"model": "e", "input": "hello"})).unwrap();
        assert_eq!((one.texts(), one.len()), (Some(vec!["hello"]), 1));
        let many = parse(
            json!({"model": "e", "input": ["a", "bb"], "dimensions": 256,
            "encoding_format": "base64"}),
        )
        .unwrap();
        assert_eq!(
            (many.len(), many.dimensions, many.encoding_format),
            (2, Some(256), Some(EncodingFormat::Base64))
        );
        assert_eq!(many.slice(1..2).texts(), Some(vec!["bb"]));
        let tokens = parse(json!({"model": "e", "input": [[1, 2], [3]]})).unwrap();
        assert_eq!(
            (
                tokens.texts(),
                tokens.len(),
                tokens.estimated_input_tokens()
            ),
            (None, 2, 3)
        );
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let cases = [
            (json!({"model": "e", "input": 3}), "input"),
            (json!({"model": "e", "input": []}), "input"),
            (json!({"model": "e", "input": ["a", ""]}), "input[1]"),
            (
                json!({"model": "e", "input": "a", "encoding_format": "hex"}),
                "encoding_format",
            ),
            (json!({"input": "a"}), "model"),
        ];
        for (body, param) in cases {
            let error = parse(body.clone()).unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{body}: {error:?}");
        }
    }

    #[test]
    fn base64_is_little_endian_float32s() {
        let vector = Vector::Floats(vec![1.0, -2.0]).encoded(EncodingFormat::Base64);
        let Vector::Base64(text) = vector else {
            panic!()
        };
        let bytes = aws_smithy_types::base64::decode(&text).unwrap();
        assert_eq!(
            bytes,
            [1.0f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()
        );
    }
}
