//! Child processes in tests: the real binary serving on port 0 (its URL read from the
//! `… listening on URL` banner, stdout and stderr captured, killed when the test ends however it
//! ends), and client scripts run to completion within a deadline.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary under test, with the environment every test wants: no config from the
/// environment, no instance-metadata probes, no proxy for loopback.
pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_resilient-llm"));
    command
        .env_remove("RESILIENT_LLM_CONFIG")
        .env_remove("RUST_LOG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    command
}

/// `program` with every `AWS_*` variable of this process removed (and no config from the
/// environment), so only what the test sets counts: the path a user with only AWS files takes.
pub fn without_aws_env(program: &str) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") || name == "RESILIENT_LLM_CONFIG" {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_PROXY", "127.0.0.1,localhost");
    command
}

/// Writes `yaml` to `dir/config.yaml`, private as a config holding a literal key must be.
pub fn write_config(dir: &Path, yaml: &str) -> PathBuf {
    let config = dir.join("config.yaml");
    std::fs::write(&config, yaml).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    config
}

/// A running server process.
pub struct Server {
    child: Child,
    /// The URL from the banner.
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

/// How long a server may take to print its banner before the test fails (instead of hanging).
const BANNER_DEADLINE: Duration = Duration::from_secs(60);

/// The rest of the first complete stdout line that starts with `banner`.
fn banner_line(stdout: &str, banner: &str) -> Option<String> {
    let complete = &stdout[..stdout.rfind('\n').map_or(0, |end| end + 1)];
    complete
        .lines()
        .find_map(|line| line.trim().strip_prefix(banner).map(str::to_string))
}

/// Spawns `command` and returns once a stdout line starts with `banner` (`"Gateway listening
/// on "`), whose rest is the URL. Keeps reading both streams so the server never blocks; a
/// server that exits or stays silent past [`BANNER_DEADLINE`] fails the test.
pub fn serve(mut command: Command, banner: &str) -> Server {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = Arc::new(Mutex::new(String::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    capture(child.stdout.take().unwrap(), Arc::clone(&stdout));
    capture(child.stderr.take().unwrap(), Arc::clone(&stderr));
    let deadline = Instant::now() + BANNER_DEADLINE;
    let url = loop {
        if let Some(url) = banner_line(&stdout.lock().unwrap(), banner) {
            break url;
        }
        let exited = child.try_wait().unwrap().is_some();
        if exited || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "no `{banner}` line ({}): {:?}\nstderr: {}",
                if exited {
                    "the process exited"
                } else {
                    "deadline passed"
                },
                stdout.lock().unwrap(),
                stderr.lock().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(
        url.starts_with("http://127.0.0.1:") || url.starts_with("https://127.0.0.1:"),
        "{url}"
    );
    Server {
        child,
        url,
        stdout,
        stderr,
    }
}

impl Server {
    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
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
                "the process did not exit within {deadline:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the process has written `needle` (stdout or stderr); fails the test past
    /// `deadline`.
    pub fn wait_for_output(&self, needle: &str, deadline: Duration) {
        let started = Instant::now();
        while !self.output().contains(needle) {
            assert!(
                started.elapsed() < deadline,
                "no {needle:?} within {deadline:?}: {}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(10));
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

/// Runs `command` to completion, its output captured; fails the test if it takes longer than
/// `deadline` (a hang), naming `what`.
pub fn run_within(mut command: Command, deadline: Duration, what: &str) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).map(|_| bytes)
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stderr.read_to_end(&mut bytes).map(|_| bytes)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    }
}

/// Runs the Python client `tests/clients/<script>` with `args` within `deadline`; fails the
/// test (with its stderr, naming the pip `package` it needs) unless it exits 0, and returns
/// its stdout.
pub fn run_python_client(script: &str, args: &[&str], package: &str, deadline: Duration) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let mut command = Command::new("python3");
    command
        .arg(path)
        .args(args)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    let output = run_within(
        command,
        deadline,
        &format!("the {package} client script (python3)"),
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the {package} client failed (is the {package} package installed? pip install {package}): {}\n{}\n{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
