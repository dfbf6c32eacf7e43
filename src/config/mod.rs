//! Configuration: raw serde types, then one `load()` into validated runtime types (DESIGN section 3).
//!
//! The file is a superset of the LiteLLM proxy config. Loading runs in stages: YAML with
//! merge keys and `x-…` anchors ([`yaml`]), known-but-unimplemented LiteLLM keys set aside
//! ([`litellm`]), `os.environ/` references resolved, a typed pass that rejects unknown keys
//! ([`raw`]), then validation across keys ([`validate`]). Every error names the file, the
//! line ([`lines`]) and the key path.

mod budget;
mod capability;
mod error;
mod lines;
mod litellm;
mod load;
mod model;
mod quota_profile;
mod raw;
pub mod sandbox;
mod validate;
mod yaml;

pub use budget::{Budget, BudgetPeriod};
pub use capability::{Capabilities, Feature, Mode, ModelFamily};
pub use error::ConfigError;
pub use load::{DEFAULT_CONFIG, DEFAULT_CONFIG_PATH, load, load_str, resolve};
pub use model::*;
pub use quota_profile::{QuotaProfile, TokenCounts};
