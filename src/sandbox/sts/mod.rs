//! STS in the sandbox (awsQuery): `GetCallerIdentity` names the account of the calling key, so
//! `aws sts get-caller-identity` and the SDKs' identity checks work against it.
//!
//! The caller itself comes from the SigV4 scope, read by the shared `sandbox::auth` (every AWS
//! service here signs the same way); nothing about credentials is STS-specific.
//!
//! - `api`: the `GetCallerIdentity` reply and the awsQuery XML errors for other actions.

mod api;

pub use api::{caller_identity_xml, handle};
