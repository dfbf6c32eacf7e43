//! The real binary, `resilient-llm gateway serve --sandbox`, on a config written to a temporary
//! directory (the process handling itself is shared: `tests/support/process.rs`).

use std::path::Path;

pub use crate::support::process::Server;
use crate::support::process::{binary, serve, write_config};

impl Server {
    /// Writes `yaml` to `dir/config.yaml` and runs `--config it <global> gateway serve --sandbox
    /// --port 0 <extra>`; returns once the banner names the URL.
    pub fn start(dir: &Path, yaml: &str, global: &[&str], extra: &[&str]) -> Server {
        let config = write_config(dir, yaml);
        let mut command = binary();
        command
            .arg("--config")
            .arg(&config)
            .args(global)
            .args(["gateway", "serve", "--sandbox", "--port", "0"])
            .args(extra);
        serve(command, "Gateway listening on ")
    }
}
