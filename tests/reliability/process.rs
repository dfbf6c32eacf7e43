//! The real binary in the reliability tests, each process on port 0 with a config written to a
//! temporary directory (the process handling itself is shared: `tests/support/process.rs`):
//!
//! - [`SandboxProcess`]: `resilient-llm sandbox serve --aws-config-dir DIR`, driven through its
//!   admin routes (`/_sandbox/stats`, `/_sandbox/reset`, `/_sandbox/regions/{region}/{down|up}`);
//! - [`Server::gateway_for_limited`]: `resilient-llm gateway serve` in front of such a sandbox, finding it
//!   through the AWS `config` and `credentials` files the sandbox wrote (as a user would);
//! - [`Server::start`]: `resilient-llm gateway serve --sandbox`, one process with its own sandbox.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use resilient_llm::sandbox::CallCounts;
use serde_json::Value;

pub use crate::support::process::Server;
use crate::support::process::{binary, serve, write_config};

/// The longest one admin call to the sandbox may take.
const ADMIN_DEADLINE: Duration = Duration::from_secs(10);

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

    /// Writes `yaml` to `dir/config.yaml` and runs `--config it gateway serve --port 0` with the
    /// AWS files of `sandbox` as its only AWS settings; returns once the banner names the URL.
    /// Run under `prlimit --nofile=N:N` when `open_files` is `Some(N)`.
    pub fn gateway_for_limited(
        dir: &Path,
        yaml: &str,
        sandbox: &SandboxProcess,
        open_files: Option<u64>,
    ) -> Server {
        let config = write_config(dir, yaml);
        let mut command = binary_without_aws_env();
        command
            .env("AWS_CONFIG_FILE", sandbox.aws_dir.join("config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                sandbox.aws_dir.join("credentials"),
            )
            .arg("--config")
            .arg(&config)
            .args(["gateway", "serve", "--port", "0"]);
        if let Some(n) = open_files {
            command = under_prlimit(&command, n);
        }
        serve(command, "Gateway listening on ")
    }
}

/// `command` run by `prlimit --nofile=N:N`, with the same environment.
fn under_prlimit(command: &Command, open_files: u64) -> Command {
    let mut wrapped = Command::new("prlimit");
    wrapped
        .arg(format!("--nofile={open_files}:{open_files}"))
        .arg("--")
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    wrapped
}

/// The binary with no `AWS_*` variable of this process (keys or an endpoint there would win
/// over the sandbox's files).
fn binary_without_aws_env() -> Command {
    let mut command = binary();
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command.env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// A `sandbox serve` process.
pub struct SandboxProcess {
    process: Server,
    addr: SocketAddr,
    /// Where the sandbox wrote the AWS `config` and `credentials` files pointing at it.
    aws_dir: PathBuf,
}

impl SandboxProcess {
    /// Writes `yaml` to `dir/config.yaml` and runs `--config it sandbox serve --port 0
    /// --aws-config-dir dir/aws`; returns once the banner names the URL.
    pub fn start(dir: &Path, yaml: &str) -> SandboxProcess {
        let config = write_config(dir, yaml);
        let aws_dir = dir.join("aws");
        let mut command = binary_without_aws_env();
        command
            .arg("--config")
            .arg(&config)
            .args(["sandbox", "serve", "--port", "0", "--aws-config-dir"])
            .arg(&aws_dir);
        let process = serve(command, "Sandbox listening on ");
        let addr = process
            .url
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|e| panic!("sandbox URL {}: {e}", process.url));
        SandboxProcess {
            process,
            addr,
            aws_dir,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.process.url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the sandbox counted since it started (or was last reset).
    pub fn stats(&self) -> SandboxStats {
        let stats = self.admin("GET", "/_sandbox/stats");
        assert!(
            stats["total"].is_object(),
            "not the sandbox's stats: {stats}"
        );
        SandboxStats(stats)
    }

    /// Back to the state at start: quotas, Region load, counters, outages (`POST
    /// /_sandbox/reset`).
    pub fn reset(&self) {
        let answer = self.admin("POST", "/_sandbox/reset");
        assert_eq!(answer["reset"], true, "{answer}");
    }

    /// Marks `region` down (no call lands there) or up again.
    pub fn set_region_down(&self, region: &str, down: bool) {
        let state = if down { "down" } else { "up" };
        let answer = self.admin("POST", &format!("/_sandbox/regions/{region}/{state}"));
        assert_eq!(answer["down"], down, "{answer}");
    }

    /// One admin call, answered 200 with JSON. Blocking on purpose, so the tests read as they
    /// did in-process; the sandbox is another process, so blocking here cannot stall it.
    fn admin(&self, method: &str, path: &str) -> Value {
        let mut socket = TcpStream::connect_timeout(&self.addr, ADMIN_DEADLINE)
            .unwrap_or_else(|e| panic!("sandbox at {} refused {path}: {e}", self.addr));
        socket.set_read_timeout(Some(ADMIN_DEADLINE)).unwrap();
        socket.set_write_timeout(Some(ADMIN_DEADLINE)).unwrap();
        write!(
            socket,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut answer = String::new();
        socket
            .read_to_string(&mut answer)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.process.output()));
        let (head, body) = answer
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("{method} {path}: not an HTTP answer: {answer:?}"));
        assert!(
            head.starts_with("HTTP/1.1 200 "),
            "{method} {path}: {answer}"
        );
        serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{method} {path}: body is not JSON ({e}): {body}"))
    }
}

/// The sandbox's counters as `GET /_sandbox/stats` answers them.
pub struct SandboxStats(Value);

impl SandboxStats {
    /// Counters of `profile` on `model` as called (zero when never called).
    pub fn model_calls(&self, profile: &str, model: &str) -> CallCounts {
        let counts = &self.0["accounts"][profile]["models"][model];
        let count = |outcome: &str| counts[outcome].as_u64().unwrap_or(0);
        CallCounts {
            served: count("served"),
            throttled: count("throttled"),
            failed: count("failed"),
        }
    }
}
