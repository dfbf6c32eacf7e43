//! `gateway top`: the dashboard's picture in the terminal, a full-screen table redrawn at
//! every snapshot of the gateway's `/ui/events` feed, for the operator on a server. `--once`
//! prints one frame and exits (scripts, CI logs).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use crate::cli::TopArgs;
use crate::config::Config;
use crate::render::{Output, Tone, bar};

/// Runs `gateway top` until Ctrl-C (or after one frame with `--once`).
pub async fn run(config: &Config, args: TopArgs, output: Output) -> anyhow::Result<()> {
    let url = args
        .gateway
        .clone()
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", config.gateway.port));
    let key = args.key.clone().or_else(|| {
        config
            .gateway
            .master_key
            .as_ref()
            .map(|k| k.expose().to_owned())
    });
    let screen = std::io::stdout().is_terminal() && !args.once;
    let _restore = screen.then(Screen::enter);
    let watch = watch(&url, key.as_deref(), &args, output, screen);
    tokio::select! {
        result = watch => result,
        () = crate::gateway::shutdown_signal() => Ok(()),
    }
}

/// Reads the feed and draws each snapshot; reconnects when the feed ends (not with `--once`).
async fn watch(
    url: &str,
    key: Option<&str>,
    args: &TopArgs,
    output: Output,
    screen: bool,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    loop {
        let mut request = http.get(format!("{}/ui/events", url.trim_end_matches('/')));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) if !args.once => {
                draw(
                    screen,
                    &format!("cannot reach the gateway at {url}: {error}; retrying…"),
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
            Err(error) => anyhow::bail!("cannot reach the gateway at {url}: {error}"),
        };
        match response.status().as_u16() {
            200 => {}
            401 if key.is_some() => {
                anyhow::bail!(
                    "the gateway at {url} refused that key: /ui/events needs the master key"
                )
            }
            401 => anyhow::bail!(
                "the gateway at {url} wants the master key: pass --key, or set RESILIENT_LLM_KEY"
            ),
            403 => anyhow::bail!("that key is not the master key of the gateway at {url}"),
            status => anyhow::bail!("the gateway at {url} answered {status} for /ui/events"),
        }
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { break };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                    continue;
                };
                let snapshot: Value = serde_json::from_str(data)?;
                draw(screen, &frame(&snapshot, url, output));
                if args.once {
                    return Ok(());
                }
            }
        }
        if args.once {
            anyhow::bail!("the feed of the gateway at {url} ended before a snapshot");
        }
        draw(screen, "the gateway's feed ended; reconnecting…");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Prints `text`: over the whole screen, or as lines.
fn draw(screen: bool, text: &str) {
    let mut out = std::io::stdout().lock();
    if screen {
        let _ = write!(out, "\x1b[H\x1b[2J{text}");
    } else {
        let _ = writeln!(out, "{text}");
    }
    let _ = out.flush();
}

/// The alternate screen with the cursor hidden, restored when dropped.
struct Screen;

impl Screen {
    fn enter() -> Screen {
        print!("\x1b[?1049h\x1b[?25l");
        let _ = std::io::stdout().flush();
        Screen
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        print!("\x1b[?25h\x1b[?1049l");
        let _ = std::io::stdout().flush();
    }
}

fn count(v: &Value) -> String {
    match v.as_u64() {
        Some(n) => thousands(n),
        None => "-".into(),
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn millis(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |ms| format!("{ms:.1}"))
}

/// `used/limit` with a bar of the share, coloured by how full.
fn usage(used: &Value, limit: &Value, output: Output) -> String {
    let used_n = used.as_u64().unwrap_or(0);
    match limit.as_u64() {
        Some(limit) if limit > 0 => {
            let share = used_n as f64 / limit as f64;
            let tone = if share >= 0.9 {
                Tone::Bad
            } else if share >= 0.7 {
                Tone::Warn
            } else {
                Tone::Good
            };
            format!(
                "{} {}/{}",
                output.paint(&bar(share, 8), tone),
                thousands(used_n),
                thousands(limit)
            )
        }
        _ => format!("{} {}", " ".repeat(8), thousands(used_n)),
    }
}

/// One frame: a heading line, traffic, the deployments by group, refusals and consumers.
pub fn frame(s: &Value, url: &str, output: Output) -> String {
    let mut out = heading(s, url, output);
    out.push_str(&deployments(s, output));
    out.push_str(&counts(s));
    out.push_str(&consumers(s, output));
    out
}

/// The gateway's line and the traffic line.
fn heading(s: &Value, url: &str, output: Output) -> String {
    let requests = &s["requests"];
    let latency = &requests["latency_ms"];
    let mut out = String::new();
    out.push_str(&format!(
        "{}  {url} · tick {} · up {}s · {} · state store {}{}\n",
        output.paint("resilient-llm top", Tone::Accent),
        s["tick"],
        s["uptime_seconds"],
        s["routing_strategy"].as_str().unwrap_or("-"),
        s["state_store"].as_str().unwrap_or("-"),
        if s["state_store_degraded"] == true {
            output.paint(" (degraded)", Tone::Bad)
        } else {
            String::new()
        },
    ));
    out.push_str(&format!(
        "requests {} · {:.1} req/s · p50 {} ms · p95 {} ms · p99 {} ms (last {} s) · fallbacks {} · retries {}\n\n",
        count(&requests["total"]),
        requests["per_second"].as_f64().unwrap_or(0.0),
        millis(&latency["p50"]),
        millis(&latency["p95"]),
        millis(&latency["p99"]),
        requests["window_seconds"],
        count(&s["fallbacks"]),
        count(&s["retries"]),
    ));
    out
}

/// The deployments by group, with their use against their limits.
fn deployments(s: &Value, output: Output) -> String {
    let mut deployments = Columns::new(&[
        "deployment",
        "model",
        "state",
        "RPM",
        "TPM",
        "in flight",
        "ok",
        "429",
        "failed",
    ]);
    for group in s["groups"].as_array().into_iter().flatten() {
        let into = group["fallbacks_into"].as_u64().unwrap_or(0);
        let title = if into > 0 {
            format!(
                "{} ({into} fell back into it)",
                group["name"].as_str().unwrap_or("")
            )
        } else {
            group["name"].as_str().unwrap_or("").to_owned()
        };
        deployments.line(output.paint(&title, Tone::Info));
        for d in group["deployments"].as_array().into_iter().flatten() {
            let state = match d["state"].as_str().unwrap_or("") {
                "cooling_down" => output.paint(
                    &format!(
                        "cooling {:.1}s",
                        d["cooling_for_ms"].as_f64().unwrap_or(0.0) / 1000.0
                    ),
                    Tone::Bad,
                ),
                "half_open" => output.paint("half open", Tone::Warn),
                other => output.paint(other, Tone::Good),
            };
            let calls = &d["calls"];
            deployments.row(vec![
                format!("  {}", d["id"].as_str().unwrap_or("")),
                d["model"].as_str().unwrap_or("").to_owned(),
                state,
                usage(&d["requests_in_window"], &d["rpm_limit"], output),
                usage(&d["tokens_in_window"], &d["tpm_limit"], output),
                count(&d["in_flight"]),
                count(&calls["success"]),
                count(&calls["rate_limited"]),
                count(&calls["failed"]),
            ]);
        }
    }
    deployments.render()
}

/// The refusals, skips and errors that happened, on two lines.
fn counts(s: &Value) -> String {
    let nonzero = |map: &Value, prefix: &str| -> Vec<String> {
        map.as_object()
            .into_iter()
            .flatten()
            .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
            .map(|(k, n)| format!("{prefix}{} {}", k.replace('_', " "), count(n)))
            .collect()
    };
    let mut refusals = nonzero(&s["refusals"], "");
    refusals.extend(nonzero(&s["skips"], "skipped "));
    let errors = nonzero(&s["errors"], "");
    format!(
        "\nrefusals: {}\nerrors:   {}\n",
        if refusals.is_empty() {
            "none".to_owned()
        } else {
            refusals.join(" · ")
        },
        if errors.is_empty() {
            "none".to_owned()
        } else {
            errors.join(" · ")
        },
    )
}

/// The consumers against their quotas and budgets (nothing without consumers).
fn consumers(s: &Value, output: Output) -> String {
    let mut out = String::new();
    let consumers = s["consumers"].as_array().cloned().unwrap_or_default();
    if !consumers.is_empty() {
        let mut table = Columns::new(&["consumer", "RPM", "TPM", "in flight", "budget", "spent"]);
        for c in &consumers {
            let budget = match c["budget"].as_object() {
                Some(b) => format!(
                    "${:.4} of ${:.2}",
                    b["spent_usd"].as_f64().unwrap_or(0.0),
                    b["max_budget"].as_f64().unwrap_or(0.0)
                ),
                None => "-".into(),
            };
            table.row(vec![
                c["name"].as_str().unwrap_or("").to_owned(),
                usage(&c["requests_in_window"], &c["rpm_limit"], output),
                usage(&c["tokens_in_window"], &c["tpm_limit"], output),
                count(&c["in_flight"]),
                budget,
                format!("${:.6}", c["spend_since_start_usd"].as_f64().unwrap_or(0.0)),
            ]);
        }
        out.push('\n');
        out.push_str(&table.render());
    }
    out
}

/// Rows in aligned columns, never wrapped (a terminal too narrow cuts the lines, as `top`
/// does), with lines of their own between them (a group's name).
struct Columns {
    headers: Vec<String>,
    rows: Vec<Result<Vec<String>, String>>,
}

impl Columns {
    fn new(headers: &[&str]) -> Self {
        Columns {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(Ok(cells));
    }

    fn line(&mut self, text: String) {
        self.rows.push(Err(text));
    }

    fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| visible_width(h)).collect();
        for cells in self.rows.iter().filter_map(|r| r.as_ref().ok()) {
            for (i, cell) in cells.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(visible_width(cell));
                }
            }
        }
        let join = |cells: &[String]| -> String {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - visible_width(cell))))
                .collect();
            padded.join("  ").trim_end().to_owned() + "\n"
        };
        let mut out = join(&self.headers);
        for row in &self.rows {
            match row {
                Ok(cells) => out.push_str(&join(cells)),
                Err(line) => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// The width of `text` on screen: its characters, without colour codes.
fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut escape = false;
    for c in text.chars() {
        match (escape, c) {
            (false, '\u{1b}') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_shows_groups_deployments_limits_and_refusals() {
        let snapshot = serde_json::json!({
            "tick": 7, "uptime_seconds": 12, "routing_strategy": "simple-shuffle",
            "state_store": "memory", "state_store_degraded": false,
            "requests": {"total": 1234, "per_second": 2.5, "window_seconds": 10,
                         "latency_ms": {"p50": 7.0, "p95": 9.5, "p99": null}},
            "groups": [{"name": "primary", "fallbacks_into": 0, "deployments": [
                {"id": "primary-sonnet", "model": "bedrock/us.anthropic.claude-sonnet-4-6",
                 "state": "cooling_down", "cooling_for_ms": 2500, "requests_in_window": 3,
                 "rpm_limit": 3, "tokens_in_window": 1500, "tpm_limit": null, "in_flight": 1,
                 "calls": {"success": 3, "rate_limited": 1, "failed": 0}}]}],
            "fallbacks": 7, "retries": 2,
            "refusals": {"consumer_rpm": 1, "no_capacity": 0}, "skips": {"rpm": 7},
            "errors": {"rate_limit_error": 1}, "consumers": [],
        });
        let text = frame(&snapshot, "http://gw", Output::plain());
        assert!(text.contains("tick 7"), "{text}");
        assert!(
            text.contains("requests 1,234 · 2.5 req/s · p50 7.0 ms · p95 9.5 ms · p99 - ms"),
            "{text}"
        );
        assert!(text.contains("cooling 2.5s"), "{text}");
        assert!(text.contains("3/3"), "{text}");
        assert!(text.contains("1,500"), "{text}");
        assert!(
            text.contains("refusals: consumer rpm 1 · skipped rpm 7"),
            "{text}"
        );
        let row = text.lines().find(|l| l.contains("primary-sonnet")).unwrap();
        assert!(row.ends_with("1          3   1    0"), "{row:?}");
    }

    #[test]
    fn columns_align_on_visible_width() {
        assert_eq!(visible_width("\u{1b}[31mred\u{1b}[0m"), 3);
        let mut c = Columns::new(&["a", "b"]);
        c.row(vec!["\u{1b}[31mlong\u{1b}[0m".into(), "x".into()]);
        c.line("group".into());
        c.row(vec!["s".into(), "y".into()]);
        let text = c.render();
        assert_eq!(text.lines().nth(3).unwrap(), "s     y");
    }
}
