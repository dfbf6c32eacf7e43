//! CloudWatch Logs in the sandbox: per-account log groups holding the invocation logs, queried
//! with the Logs Insights subset over the awsJson1_1 protocol (`StartQuery`, `GetQueryResults`,
//! `DescribeQueries`, `DescribeLogGroups`).
//!
//! [`LogStore`] holds the data and the query lifecycle, [`handle`] speaks the wire protocol and
//! [`insights`] is the query language.

mod api;
pub mod insights;
mod store;

pub use api::handle;
pub use store::{
    GroupSummary, LOG_STREAM, LogStore, QueryPhase, QueryRequest, QueryResults, QuerySummary,
};

/// A CloudWatch Logs error; its [`LogsError::error_type`] is the `__type` the SDKs match on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LogsError {
    /// A log group or query id the account does not have.
    #[error("{0}")]
    ResourceNotFound(String),
    /// A query outside the Insights subset, with where it went wrong.
    #[error("{0}")]
    MalformedQuery(insights::QueryError),
    /// A missing or out-of-range parameter.
    #[error("{0}")]
    InvalidParameter(String),
    /// A body that is not the JSON the operation expects.
    #[error("{0}")]
    Serialization(String),
    /// A target this emulator does not implement.
    #[error("Operation {0} is not supported by the sandbox's CloudWatch Logs")]
    UnknownOperation(String),
}

impl LogsError {
    /// The error name sent as `__type` and `x-amzn-errortype`.
    pub fn error_type(&self) -> &'static str {
        match self {
            LogsError::ResourceNotFound(_) => "ResourceNotFoundException",
            LogsError::MalformedQuery(_) => "MalformedQueryException",
            LogsError::InvalidParameter(_) => "InvalidParameterException",
            LogsError::Serialization(_) => "SerializationException",
            LogsError::UnknownOperation(_) => "UnknownOperationException",
        }
    }
}
