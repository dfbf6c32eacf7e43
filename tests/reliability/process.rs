//! The real binary, `resilient-llm gateway serve --sandbox`, on a config written to a temporary
//! directory: its URL read from the banner, stdout and stderr captured whole (for the log checks),
//! and the process killed when the test ends however it ends.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `gateway serve` process.
pub struct Server {
    child: Child,
    /// The gateway URL from the banner.
    pub url: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn capture(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
}

impl Server {
    /// Writes `yaml` to `dir/config.yaml` and runs `--config it <args> gateway serve --sandbox
    /// --port 0 <extra>`; returns once the banner names the URL.
    pub fn start(dir: &Path, yaml: &str, global: &[&str], extra: &[&str]) -> Server {
        let config = dir.join("config.yaml");
        std::fs::write(&config, yaml).unwrap();
        // Private, as a config holding a literal master key must be.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_resilient-llm"))
            .env_remove("RESILIENT_LLM_CONFIG")
            .env_remove("RUST_LOG")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .arg("--config")
            .arg(&config)
            .args(global)
            .args(["gateway", "serve", "--sandbox", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        capture(child.stderr.take().unwrap(), Arc::clone(&stderr));
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        let mut url = None;
        for _ in 0..20 {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            banner.push_str(&line);
            if let Some(found) = line.trim().strip_prefix("Gateway listening on ") {
                url = Some(found.to_string());
                break;
            }
        }
        let url = url.unwrap_or_else(|| {
            panic!(
                "no gateway URL in the banner: {banner:?}\nstderr: {}",
                stderr.lock().unwrap()
            )
        });
        let stdout = Arc::new(Mutex::new(banner));
        capture(reader, Arc::clone(&stdout));
        Server {
            child,
            url,
            stdout,
            stderr,
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the process to exit; fails the test past `deadline`.
    pub fn wait_within(&mut self, deadline: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < deadline,
                "the gateway did not exit within {deadline:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the process wrote so far, stdout then stderr.
    pub fn output(&self) -> String {
        format!(
            "{}\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}
