//! A surface's content that cannot become canonical content.

/// A request field a surface conversion refused, named by its path in the client's body
/// (`messages[2].content[1].image_url`): the client's mistake, answered with a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ContentError {
    /// The offending field's path.
    pub param: String,
    /// What is wrong, for the client.
    pub message: String,
}

impl ContentError {
    /// A refusal of the field at `param`.
    pub fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        ContentError {
            param: param.into(),
            message: message.into(),
        }
    }
}
