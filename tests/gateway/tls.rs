//! TLS on the gateway's listener: certificates made with `openssl` for two test CAs, the
//! gateway process serving HTTPS with the first, a client trusting only that CA served and
//! one trusting only the other refused; then the files replaced and SIGHUP sent: the process
//! keeps running, and new connections get the second certificate.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::process;

/// A CA and a server certificate it signed for 127.0.0.1 and localhost, as PEM files in
/// `dir`: `<name>-ca.pem`, `<name>-cert.pem`, `<name>-key.pem`.
pub fn make_certificates(dir: &Path, name: &str) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let (ca, ca_key) = (format!("{name}-ca.pem"), format!("{name}-ca-key.pem"));
    let (cert, key, csr) = (
        format!("{name}-cert.pem"),
        format!("{name}-key.pem"),
        format!("{name}.csr"),
    );
    let subject = format!("/CN={name}-test-ca");
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout", &ca_key, "-out", &ca, "-days", "2", "-subj", &subject,
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"],
    ]
    .concat());
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-days",
        "2",
        "-extfile",
        &ext,
    ]);
}

/// A client that trusts only the CA in `ca` (PEM), on fresh connections each request.
fn client_trusting(ca: &Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .pool_max_idle_per_host(0)
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn status(client: &reqwest::Client, url: &str) -> Result<u16, String> {
    match client.get(format!("{url}/health/liveliness")).send().await {
        Ok(response) => Ok(response.status().as_u16()),
        Err(error) => Err(format!("{error:?}")),
    }
}

#[tokio::test]
async fn https_with_the_configured_certificate_reloaded_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path(), "one");
    make_certificates(dir.path(), "two");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(dir.path().join("one-cert.pem"), &cert).unwrap();
    std::fs::copy(dir.path().join("one-key.pem"), &key).unwrap();
    let yaml = format!(
        "gateway:\n  header_timeout: 0.5\n  ssl_certfile_path: {}\n  ssl_keyfile_path: {}\nmodel_list:\n  - model_name: m\n    litellm_params: {{model: \"bedrock/us.amazon.nova-lite-v1:0\", aws_profile_name: genai}}\n",
        cert.display(),
        key.display()
    );
    let mut command = process::binary();
    command
        .arg("--config")
        .arg(process::write_config(dir.path(), &yaml))
        .args(["gateway", "serve", "--sandbox", "--port", "0"]);
    let mut server = process::serve(command, "Gateway listening on ");
    let url = server.url.clone();
    assert!(url.starts_with("https://"), "{url}");

    let (one, two) = (
        client_trusting(&dir.path().join("one-ca.pem")),
        client_trusting(&dir.path().join("two-ca.pem")),
    );
    assert_eq!(status(&one, &url).await, Ok(200));
    assert!(
        status(&two, &url).await.is_err(),
        "a client of the other CA is refused"
    );

    // A client that connects and never starts its handshake is closed at the head timeout.
    let addr = url.trim_start_matches("https://").to_owned();
    let closed = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut socket = std::net::TcpStream::connect(addr).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        socket.read(&mut [0u8; 64])
    })
    .await
    .unwrap();
    let timed_out = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    };
    assert!(
        matches!(closed, Ok(0)) || closed.as_ref().is_err_and(|e| !timed_out(e)),
        "the silent connection was closed, not left open: {closed:?}"
    );

    std::fs::copy(dir.path().join("two-cert.pem"), &cert).unwrap();
    std::fs::copy(dir.path().join("two-key.pem"), &key).unwrap();
    let pid = server.pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    server.wait_for_output("SIGHUP: TLS certificate reloaded", Duration::from_secs(30));
    assert!(server.running(), "SIGHUP does not end the process");
    assert_eq!(status(&two, &url).await, Ok(200));
    assert!(
        status(&one, &url).await.is_err(),
        "the old certificate is gone"
    );
}

#[tokio::test]
async fn a_key_without_its_certificate_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "gateway:\n  ssl_keyfile_path: /tmp/key.pem\nmodel_list:\n  - model_name: m\n    litellm_params: {model: \"bedrock/us.amazon.nova-lite-v1:0\", aws_profile_name: genai}\n";
    let mut command = process::binary();
    command
        .arg("--config")
        .arg(process::write_config(dir.path(), yaml))
        .args(["gateway", "serve", "--sandbox", "--port", "0"]);
    let out = process::run_within(command, Duration::from_secs(60), "gateway serve");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("gateway.ssl_certfile_path") && text.contains("TLS needs both"),
        "{text}"
    );
}
