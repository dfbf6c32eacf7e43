//! `demo all --html FILE`: the five patterns' figures as one self-contained page (inline SVG
//! and CSS, nothing fetched), for people who would rather look than read: the verdicts, each
//! pattern's requests as a timeline by lane (deployment, account or consumer), the split of
//! requests per lane by outcome, and the Region split of the direct patterns.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use super::DemoOutcome;

/// The page for `outcomes`, run in `elapsed_s` seconds.
pub fn report(outcomes: &[DemoOutcome], elapsed_s: f64) -> String {
    let passed = outcomes.iter().filter(|o| o.passed).count();
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>The five resilience patterns</h1><p class=\"dim\">{passed} of {} behave as the walkthrough shows · {elapsed_s:.1} s · resilient-llm {} · {}</p>",
        outcomes.len(),
        env!("CARGO_PKG_VERSION"),
        esc(&chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string()),
    );
    body.push_str("<table><tr><th>#</th><th>pattern</th><th>walkthrough expects</th><th>observed</th><th>verdict</th></tr>");
    for (i, o) in outcomes.iter().enumerate() {
        let verdict = if o.passed {
            "<b class=\"pass\">PASS</b>"
        } else {
            "<b class=\"fail\">FAIL</b>"
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}</td><td>{verdict}</td></tr>",
            i + 1,
            o.id,
            esc(o.pattern),
            esc(&o.expected),
            esc(&o.observed)
        );
    }
    body.push_str("</table>");
    for o in outcomes {
        body.push_str(&section(o));
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>resilient-llm · five resilience patterns</title><style>{STYLE}</style></head><body>{body}</body></html>\n"
    )
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#1d2430;background:#fafbfc}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:32px 0 4px;border-top:1px solid #dde2e8;padding-top:18px}\
h3{font-size:13px;color:#5b6675;text-transform:uppercase;letter-spacing:.05em;margin:14px 0 6px}\
.dim{color:#5b6675}table{border-collapse:collapse;width:100%;margin:10px 0}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e4e8ee}\
th{font-size:12px;color:#5b6675;font-weight:600}.pass{color:#1a7f37}.fail{color:#cf222e}\
svg{display:block;max-width:100%;background:#fff;border:1px solid #e4e8ee;border-radius:6px}\
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}";

/// The colour of an attempt's outcome: served as planned, served elsewhere, refused, failed.
fn colour(outcome: &str) -> &'static str {
    match outcome {
        "success" | "primary" | "balanced" => "#2da44e",
        "fallback" | "overflow" => "#218bff",
        "rate_limited" | "throttled" => "#cf222e",
        _ => "#8c959f",
    }
}

/// The lane of an attempt: its deployment, its account or its consumer.
fn lane(id: &str, attempt: &Value, figures: &Value) -> String {
    let name = lane_name(id, attempt, figures);
    // Labels have 280 px: about 40 characters.
    match name.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &name[..at]),
        None => name,
    }
}

fn lane_name(id: &str, attempt: &Value, figures: &Value) -> String {
    match id {
        "shard" => {
            let shard = attempt["shard"].as_u64().unwrap_or(0) as usize;
            let profile = figures["accounts"][shard]["profile"]
                .as_str()
                .unwrap_or("?");
            format!("account {profile}")
        }
        "cris" => "cross-Region profile".to_owned(),
        "isolate" => format!("consumer {}", attempt["consumer"].as_str().unwrap_or("?")),
        _ => attempt["deployment"]
            .as_str()
            .unwrap_or("no deployment (refused)")
            .to_owned(),
    }
}

fn section(o: &DemoOutcome) -> String {
    let figures = &o.figures;
    let attempts: Vec<&Value> = figures["attempts"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let mut out = format!(
        "<h2 id=\"{}\">{} <span class=\"dim\">({})</span></h2><p>{} <b class=\"{}\">{}</b></p>",
        o.id,
        esc(o.pattern),
        o.id,
        esc(&o.observed),
        if o.passed { "pass" } else { "fail" },
        if o.passed { "PASS" } else { "FAIL" },
    );
    let mut lanes: Vec<String> = Vec::new();
    for attempt in &attempts {
        let name = lane(o.id, attempt, figures);
        if !lanes.contains(&name) {
            lanes.push(name);
        }
    }
    out.push_str(
        "<h3>Requests over time, by lane (all sent at once; each bar runs to its answer)</h3>",
    );
    out.push_str(&timeline(o.id, &attempts, &lanes, figures));
    out.push_str(&legend(&attempts));
    out.push_str("<h3>Requests per lane, by outcome</h3>");
    out.push_str(&split(o.id, &attempts, &lanes, figures));
    match o.id {
        "cris" => {
            out.push_str("<h3>Region split (from the invocation logs)</h3>");
            out.push_str(&regions(&[(
                "all requests".to_owned(),
                &figures["regions"],
            )]));
        }
        "shard" => {
            out.push_str("<h3>Region split per account (from the invocation logs)</h3>");
            let accounts: Vec<(String, &Value)> = figures["accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    (
                        format!("account {}", a["profile"].as_str().unwrap_or("?")),
                        &a["regions"],
                    )
                })
                .collect();
            out.push_str(&regions(&accounts));
        }
        _ => {}
    }
    out
}

const WIDTH: f64 = 1000.0;
const LABEL: f64 = 280.0;
const ROW: f64 = 10.0;

fn timeline(id: &str, attempts: &[&Value], lanes: &[String], figures: &Value) -> String {
    let longest = attempts
        .iter()
        .filter_map(|a| a["time_s"].as_f64())
        .fold(0.0_f64, f64::max)
        .max(0.001);
    let mut by_lane: BTreeMap<usize, Vec<&Value>> = BTreeMap::new();
    for attempt in attempts {
        let name = lane(id, attempt, figures);
        let index = lanes.iter().position(|l| *l == name).unwrap_or(0);
        by_lane.entry(index).or_default().push(attempt);
    }
    let mut y = 10.0;
    let mut shapes = String::new();
    let scale = (WIDTH - LABEL - 20.0) / longest;
    for (index, lane_attempts) in &by_lane {
        let height = lane_attempts.len() as f64 * ROW + 8.0;
        let _ = write!(
            shapes,
            "<text x=\"8\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            y + height / 2.0 + 4.0,
            esc(&lanes[*index])
        );
        for (i, attempt) in lane_attempts.iter().enumerate() {
            let seconds = attempt["time_s"].as_f64().unwrap_or(0.0);
            let outcome = attempt["outcome"].as_str().unwrap_or("");
            let _ = write!(
                shapes,
                "<rect x=\"{LABEL}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>request {} · {outcome} · {seconds:.3} s</title></rect>",
                y + 4.0 + i as f64 * ROW,
                (seconds * scale).max(1.5),
                ROW - 2.0,
                colour(outcome),
                attempt["request"],
            );
        }
        y += height + 6.0;
    }
    // A time axis in seconds.
    let _ = write!(
        shapes,
        "<line x1=\"{LABEL}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#8c959f\"/>",
        WIDTH - 20.0
    );
    for step in 0..=4 {
        let t = longest * f64::from(step) / 4.0;
        let _ = write!(
            shapes,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#5b6675\" text-anchor=\"middle\">{t:.2} s</text>",
            LABEL + t * scale,
            y + 14.0
        );
    }
    format!(
        "<svg viewBox=\"0 0 {WIDTH} {:.0}\" width=\"{WIDTH}\" role=\"img\" aria-label=\"timeline\">{shapes}</svg>",
        y + 22.0
    )
}

fn legend(attempts: &[&Value]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for a in attempts {
        let outcome = a["outcome"].as_str().unwrap_or("");
        if !seen.contains(&outcome) {
            seen.push(outcome);
        }
    }
    let items: String = seen
        .iter()
        .map(|o| {
            format!(
                "<span><i style=\"background:{}\"></i>{}</span>",
                colour(o),
                esc(&o.replace('_', " "))
            )
        })
        .collect();
    format!("<div class=\"legend\">{items}</div>")
}

/// Stacked bars: per lane, its requests by outcome.
fn split(id: &str, attempts: &[&Value], lanes: &[String], figures: &Value) -> String {
    let mut counts: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); lanes.len()];
    for attempt in attempts {
        let name = lane(id, attempt, figures);
        if let Some(index) = lanes.iter().position(|l| *l == name) {
            *counts[index]
                .entry(attempt["outcome"].as_str().unwrap_or("").to_owned())
                .or_default() += 1;
        }
    }
    let most = counts
        .iter()
        .map(|c| c.values().sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1);
    let scale = (WIDTH - LABEL - 170.0) / most as f64;
    let mut shapes = String::new();
    for (i, (name, by_outcome)) in lanes.iter().zip(&counts).enumerate() {
        let y = 10.0 + i as f64 * 26.0;
        let _ = write!(
            shapes,
            "<text x=\"8\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            y + 13.0,
            esc(name)
        );
        let mut x = LABEL;
        for (outcome, n) in by_outcome {
            let width = *n as f64 * scale;
            let _ = write!(
                shapes,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"18\" fill=\"{}\"><title>{} {outcome}</title></rect>",
                colour(outcome),
                n
            );
            x += width;
        }
        let total: u64 = by_outcome.values().sum();
        let _ = write!(
            shapes,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" class=\"count\">{}</text>",
            x + 6.0,
            y + 13.0,
            by_outcome
                .iter()
                .map(|(o, n)| format!("{n} {}", o.replace('_', " ")))
                .collect::<Vec<_>>()
                .join(", ")
                + &format!(" ({total})")
        );
    }
    format!(
        "<svg viewBox=\"0 0 {WIDTH} {:.0}\" width=\"{WIDTH}\" role=\"img\" aria-label=\"requests per lane\">{shapes}</svg>",
        20.0 + lanes.len() as f64 * 26.0
    )
}

/// Bars of requests per Region, one block per row of `(label, {region: count})`.
fn regions(rows: &[(String, &Value)]) -> String {
    let palette = [
        "#218bff", "#2da44e", "#bf8700", "#8250df", "#cf222e", "#57606a",
    ];
    let mut names: Vec<String> = Vec::new();
    for (_, map) in rows {
        for region in map.as_object().into_iter().flatten().map(|(r, _)| r) {
            if !names.contains(region) {
                names.push(region.clone());
            }
        }
    }
    names.sort();
    let most = rows
        .iter()
        .flat_map(|(_, map)| {
            map.as_object()
                .into_iter()
                .flatten()
                .map(|(_, n)| n.as_u64().unwrap_or(0))
        })
        .max()
        .unwrap_or(1)
        .max(1);
    let scale = (WIDTH - LABEL - 120.0) / most as f64;
    let mut shapes = String::new();
    let mut y = 10.0;
    for (label, map) in rows {
        let _ = write!(
            shapes,
            "<text x=\"8\" y=\"{:.1}\" font-size=\"12\" font-weight=\"600\">{}</text>",
            y + 12.0,
            esc(label)
        );
        y += 18.0;
        for (i, region) in names.iter().enumerate() {
            let Some(n) = map.get(region).and_then(Value::as_u64) else {
                continue;
            };
            let _ = write!(
                shapes,
                "<text x=\"24\" y=\"{:.1}\" font-size=\"12\">{}</text><rect x=\"{LABEL}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"16\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" class=\"region-count\" data-region=\"{}/{}\">{n}</text>",
                y + 12.0,
                esc(region),
                n as f64 * scale,
                palette[i % palette.len()],
                LABEL + n as f64 * scale + 6.0,
                y + 12.0,
                esc(label),
                esc(region),
            );
            y += 22.0;
        }
        y += 6.0;
    }
    format!(
        "<svg viewBox=\"0 0 {WIDTH} {y:.0}\" width=\"{WIDTH}\" role=\"img\" aria-label=\"Region split\">{shapes}</svg>"
    )
}

/// Text for HTML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(id: &'static str, figures: Value) -> DemoOutcome {
        DemoOutcome {
            id,
            pattern: "pattern <x>",
            expected: "e".into(),
            observed: "o & p".into(),
            passed: true,
            diagnosis: Vec::new(),
            figures,
        }
    }

    #[test]
    fn the_page_is_self_contained_and_shows_every_lane_and_region() {
        let cris = outcome(
            "cris",
            serde_json::json!({"model_id": "us.m", "regions": {"us-east-1": 5, "us-west-2": 1},
                "attempts": [{"outcome": "success", "request": 1, "shard": 0, "time_s": 0.3}]}),
        );
        let fallback = outcome(
            "fallback",
            serde_json::json!({"attempts": [
                {"deployment": "primary", "outcome": "primary", "request": 1, "time_s": 0.2},
                {"deployment": "backup", "outcome": "fallback", "request": 2, "time_s": 0.4}]}),
        );
        let page = report(&[cris, fallback], 3.0);
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "nothing fetched"
        );
        assert!(page.contains("pattern &lt;x&gt;") && page.contains("o &amp; p"));
        assert!(
            page.contains("data-region=\"all requests/us-east-1\">5<"),
            "{page}"
        );
        assert!(page.contains(">primary<") && page.contains(">backup<"));
        assert!(page.contains("1 fallback (1)"));
        assert_eq!(page.matches("<svg").count(), 5);
    }
}
