//! The live dashboard in a real browser: headless Chromium loads `/ui` from a gateway that has
//! served a known set of requests (a primary at 3 RPM falling back, a consumer over its own
//! RPM), the test types the master key, and what the page shows is checked against `/health`
//! and `/metrics` read at the same time. The feed itself: 401 without a key, 403 for a
//! consumer's, one snapshot a second with the master key.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use crate::harness::{HAIKU, SONNET, Stack, count_status};
use crate::support::browser::Browser;

const MASTER: &str = "sk-master-dashboard-0001";

fn yaml() -> String {
    format!(
        r#"
model_list:
  - model_name: primary
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai, rpm: 3, tpm: 200000}}
    model_info: {{id: primary-sonnet}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, rpm: 25}}
    model_info: {{id: backup-haiku}}
router_settings:
  fallbacks: [{{primary: [backup]}}]
gateway:
  master_key: {MASTER}
  consumers:
    - {{name: team-a, key: sk-team-a-dash-0001, rpm_limit: 50, max_budget: 5, budget_duration: 1d}}
    - {{name: team-b, key: sk-team-b-dash-0001, rpm_limit: 1}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    )
}

/// Serves the known requests: 10 for team A (3 on the primary, 7 falling back), 2 for team B
/// (the second over its 1 RPM).
async fn serve_known_requests(stack: &Stack) {
    let a = stack
        .chat_concurrently(Some("sk-team-a-dash-0001"), "primary", 10)
        .await;
    assert_eq!(count_status(&a, 200), 10, "{a:?}");
    let first = stack
        .chat(Some("sk-team-b-dash-0001"), "backup", false)
        .await;
    assert_eq!(first.status, 200);
    let second = stack
        .chat(Some("sk-team-b-dash-0001"), "backup", false)
        .await;
    assert_eq!(second.status, 429);
}

/// The first snapshot of `/ui/events` with `key`.
async fn first_snapshot(stack: &Stack, key: &str) -> Value {
    let response = stack
        .http()
        .get(stack.url("/ui/events"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.bytes_stream();
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("a snapshot within a few ticks")
            .expect("the feed stays open")
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let event = text.split("\n\n").next().unwrap();
    assert!(event.starts_with("event: snapshot\ndata: "), "{event}");
    serde_json::from_str(event.trim_start_matches("event: snapshot\ndata: ")).unwrap()
}

#[tokio::test]
async fn the_feed_needs_the_master_key_and_agrees_with_health() {
    let stack = Stack::start(&yaml()).await;
    serve_known_requests(&stack).await;
    assert_eq!(stack.get("/ui/events", None).await.status, 401);
    let consumer = stack.get("/ui/events", Some("sk-team-a-dash-0001")).await;
    assert_eq!(consumer.status, 403);
    // The page itself holds no data and loads without a key.
    let page = stack.get("/ui", None).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("<title>resilient-llm"));
    assert!(
        !page.text.contains("http://") && !page.text.contains("https://"),
        "no CDN"
    );

    let snapshot = first_snapshot(&stack, MASTER).await;
    let health = stack.health().await;
    assert!(snapshot["tick"].as_u64().unwrap() >= 1);
    assert_eq!(snapshot["requests"]["total"], 12);
    assert_eq!(snapshot["fallbacks"], 7);
    assert_eq!(snapshot["refusals"]["consumer_rpm"], 1);
    assert_eq!(snapshot["skips"]["rpm"], 7);
    let primary = &snapshot["groups"][0]["deployments"][0];
    let healthy = &health["health"]["deployments"][0];
    for field in [
        "id",
        "requests_in_window",
        "tokens_in_window",
        "rpm_limit",
        "tpm_limit",
        "state",
    ] {
        assert_eq!(primary[field], healthy[field], "{field}");
    }
    assert_eq!(primary["requests_in_window"], 3);
    assert_eq!(primary["calls"]["success"], 3);
    assert_eq!(snapshot["groups"][1]["fallbacks_into"], 7);
    let team_a = &snapshot["consumers"][0];
    assert_eq!(team_a["name"], "team-a");
    assert_eq!(team_a["requests_in_window"], 10);
    assert_eq!(team_a["budget"]["max_budget"], 5.0);
    assert!(team_a["budget"]["spent_usd"].as_f64().unwrap() > 0.0);
    assert!(snapshot["requests"]["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn the_page_shows_in_chromium_what_health_says() {
    let stack = Stack::start(&yaml()).await;
    serve_known_requests(&stack).await;
    let browser = Browser::start().await;
    browser.open(&stack.url("/ui")).await;
    // No key yet: the page asks for one.
    browser
        .wait_for(
            "return !document.getElementById('login').hidden",
            Duration::from_secs(20),
        )
        .await;
    browser.type_into("#key", "sk-wrong-key-0001").await;
    browser.click("#connect").await;
    let refused = browser
        .wait_for(
            "return document.getElementById('login-error').textContent || null",
            Duration::from_secs(20),
        )
        .await;
    assert!(refused.as_str().unwrap().contains("key"), "{refused}");
    browser.type_into("#key", MASTER).await;
    browser.click("#connect").await;
    // Live: a snapshot rendered with its deployments.
    browser
        .wait_for(
            "return Number(document.getElementById('tick').textContent) >= 1 && document.querySelectorAll('[data-deployment]').length === 2",
            Duration::from_secs(20),
        )
        .await;
    let shown = browser
        .run(
            r#"
const text = (root, css) => root.querySelector(css).textContent;
const rows = {};
for (const row of document.querySelectorAll('[data-deployment]')) {
  rows[row.dataset.deployment] = {
    rpm_used: text(row, '.rpm-used'), rpm_limit: text(row, '.rpm-limit'),
    tpm_used: text(row, '.tpm-used'), tpm_limit: text(row, '.tpm-limit'),
    state: text(row, '.state'), ok: text(row, '.calls-ok'),
  };
}
const counts = {};
for (const li of document.querySelectorAll('[data-refusal]')) counts[li.dataset.refusal] = text(li, '.count');
const consumers = {};
for (const row of document.querySelectorAll('[data-consumer]')) {
  consumers[row.dataset.consumer] = { rpm_used: text(row, '.rpm-used'), rpm_limit: text(row, '.rpm-limit') };
}
return {
  status: document.getElementById('status').textContent,
  requests: document.getElementById('requests-total').textContent,
  fallbacks: document.getElementById('fallbacks-total').textContent,
  sessionKey: sessionStorage.getItem('resilient-llm-master-key') !== null,
  rows, counts, consumers,
  charts: document.querySelectorAll('#chart-rps polyline, #chart-latency polyline').length,
};
"#,
        )
        .await;
    let health = stack.health().await;
    assert_eq!(shown["status"], "live");
    assert_eq!(shown["sessionKey"], true, "the key is kept for the tab");
    assert_eq!(shown["requests"], "12");
    assert_eq!(shown["fallbacks"], "7");
    assert_eq!(shown["counts"]["consumer_rpm"], "1");
    assert_eq!(shown["counts"]["skipped_rpm"], "7");
    let number = |v: &Value| v.as_u64().map_or("no limit".to_owned(), |n| n.to_string());
    for deployment in health["health"]["deployments"].as_array().unwrap() {
        let key = format!(
            "{}/{}",
            deployment["model_group"].as_str().unwrap(),
            deployment["id"].as_str().unwrap()
        );
        let row = &shown["rows"][&key];
        assert_eq!(
            row["rpm_used"],
            number(&deployment["requests_in_window"]),
            "{key}"
        );
        assert_eq!(row["rpm_limit"], number(&deployment["rpm_limit"]), "{key}");
        assert_eq!(
            row["tpm_used"].as_str().unwrap().replace(',', ""),
            number(&deployment["tokens_in_window"]),
            "{key}"
        );
        assert_eq!(
            row["tpm_limit"].as_str().unwrap().replace(',', ""),
            number(&deployment["tpm_limit"]),
            "{key}"
        );
        assert_eq!(row["state"], "healthy", "{key}");
    }
    assert_eq!(shown["rows"]["primary/primary-sonnet"]["ok"], "3");
    assert_eq!(shown["rows"]["backup/backup-haiku"]["ok"], "8");
    for consumer in health["health"]["consumers"].as_array().unwrap() {
        let row = &shown["consumers"][consumer["name"].as_str().unwrap()];
        assert_eq!(row["rpm_used"], number(&consumer["requests_in_window"]));
        assert_eq!(row["rpm_limit"], number(&consumer["rpm_limit"]));
    }
    // A second snapshot draws the charts' lines.
    browser
        .wait_for(
            "return document.querySelectorAll('#chart-rps polyline').length === 1",
            Duration::from_secs(20),
        )
        .await;
    let png = browser.screenshot().await;
    assert_eq!(&png[1..4], b"PNG");
    if let Some(path) = std::env::var_os("DASHBOARD_SCREENSHOT") {
        std::fs::write(path, &png).unwrap();
    }
    browser.close().await;
}

/// `gateway top --once` draws the same snapshot in the terminal: the groups, each deployment
/// with its use against its limit, the refusals and the consumers; a consumer's key is refused.
#[tokio::test]
async fn gateway_top_prints_the_same_picture_in_the_terminal() {
    let stack = Stack::start(&yaml()).await;
    serve_known_requests(&stack).await;
    let url = stack.gateway.url();
    let top = |key: &'static str| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut command = crate::support::process::binary();
            command.args(["gateway", "top", "--once", "--gateway", &url, "--key", key]);
            crate::support::process::run_within(command, Duration::from_secs(30), "gateway top")
        })
    };
    let shown = top(MASTER).await.unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(text.contains("requests 12 ·"), "{text}");
    assert!(text.contains("fallbacks 7"), "{text}");
    let primary = text.lines().find(|l| l.contains("primary-sonnet")).unwrap();
    assert!(primary.contains("3/3"), "{primary}");
    let backup = text.lines().find(|l| l.contains("backup-haiku")).unwrap();
    assert!(backup.contains("8/25"), "{backup}");
    assert!(text.contains("backup (7 fell back into it)"), "{text}");
    assert!(
        text.contains("refusals: consumer rpm 1 · skipped rpm 7"),
        "{text}"
    );
    let team_a = text.lines().find(|l| l.starts_with("team-a")).unwrap();
    assert!(
        team_a.contains("10/50") && team_a.contains("of $5.00"),
        "{team_a}"
    );
    assert!(!text.contains('\u{1b}'), "no escape codes off a terminal");

    let refused = top("sk-team-a-dash-0001").await.unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not the master key"),
        "{refused:?}"
    );
}
