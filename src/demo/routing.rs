//! The routing a gateway demo shows, shared by fallback, load balancing and quota isolation:
//! the routing table printed before the requests go out ([`Route`], [`routing_table`],
//! [`rpm_text`]), where the requests landed ([`usage_table`], [`refusals`]), and each request
//! in `--json` ([`request_json`]).

use serde_json::{Value, json};

use super::client::Call;
use crate::config::{Deployment, ModelGroup};
use crate::render::{Table, percent};

/// The part a deployment plays in a gateway demo's routing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// In the group the demo calls.
    Primary,
    /// In a group the gateway falls back to.
    Fallback,
}

impl Role {
    /// The table's `Type` cell.
    pub fn title(self) -> &'static str {
        match self {
            Role::Primary => "Primary",
            Role::Fallback => "Fallback",
        }
    }

    /// The name used in `--json`.
    fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Fallback => "fallback",
        }
    }
}

/// One row of the routing table a gateway demo prints before sending: a deployment, the part
/// it plays and why it is there.
pub struct Route<'a> {
    pub deployment: &'a Deployment,
    pub role: Role,
    pub purpose: String,
}

impl Route<'_> {
    /// The row in `--json` (`rpm` is null for an unlimited deployment).
    pub fn to_json(&self) -> Value {
        let d = self.deployment;
        json!({"model_group": d.group, "deployment": d.id, "model": d.model, "rpm": d.rpm, "role": self.role.as_str(), "purpose": self.purpose})
    }
}

/// The primary group's deployments, then the fallback groups', in config order, each with the
/// purpose `primary_purpose` or `fallback_purpose` gives it (from its position in its group).
pub fn routing_table<'a>(
    primary: &'a ModelGroup,
    fallbacks: impl IntoIterator<Item = &'a ModelGroup>,
    primary_purpose: impl Fn(usize) -> String,
    fallback_purpose: impl Fn(usize) -> String,
) -> Vec<Route<'a>> {
    let rows = |group: &'a ModelGroup, role: Role, purpose: &dyn Fn(usize) -> String| {
        group
            .deployments
            .iter()
            .enumerate()
            .map(|(i, d)| Route {
                deployment: d,
                role,
                purpose: purpose(i),
            })
            .collect::<Vec<_>>()
    };
    let mut routes = rows(primary, Role::Primary, &primary_purpose);
    for group in fallbacks {
        routes.extend(rows(group, Role::Fallback, &fallback_purpose));
    }
    routes
}

/// A table cell for a deployment's RPM limit.
pub fn rpm_text(rpm: Option<u32>) -> String {
    rpm.map_or_else(|| "unlimited".into(), |r| r.to_string())
}

/// `, 9 refused (no capacity left)`, or nothing for none: the requests past every route's
/// limit, which the gateway refuses with 429 (right, not a failure of the pattern).
pub fn refusals(n: u64) -> String {
    if n > 0 {
        format!(", {n} refused (no capacity left)")
    } else {
        String::new()
    }
}

/// One narrated request in `--json`: its number, `outcome` (the narration's verdict), where the
/// gateway says it went, its HTTP status (0 when the gateway never answered) and its time.
pub fn request_json(call: &Call, outcome: &str) -> Value {
    json!({
        "request": call.number,
        "outcome": outcome,
        "deployment": call.deployment,
        "model_group": call.group,
        "model": call.model,
        "status": call.status,
        "time_s": call.elapsed.as_secs_f64(),
        "error": call.error,
    })
}

/// The walkthrough's "Model Usage Distribution", by deployment, with bars; and its JSON.
pub fn usage_table(calls: &[&Call], total: u64) -> (Table, serde_json::Value) {
    let mut counts: Vec<(String, String, String, u64)> = Vec::new();
    for call in calls {
        let deployment = call.deployment.clone().unwrap_or_default();
        match counts.iter_mut().find(|(d, ..)| *d == deployment) {
            Some(entry) => entry.3 += 1,
            None => counts.push((
                deployment,
                call.group.clone().unwrap_or_default(),
                call.model.clone().unwrap_or_default(),
                1,
            )),
        }
    }
    counts.sort_by(|a, b| b.3.cmp(&a.3).then(a.0.cmp(&b.0)));
    let mut table = Table::new(["Deployment", "Model group", "Model", "Requests", "Share"])
        .titled("Model Usage Distribution");
    for (deployment, group, model, n) in &counts {
        table.row_with_bar(
            [
                deployment.clone(),
                group.clone(),
                model.clone(),
                n.to_string(),
                percent(*n, total),
            ],
            *n as f64 / total.max(1) as f64,
        );
    }
    let json = counts
        .iter()
        .map(|(deployment, group, model, n)| json!({"deployment": deployment, "model_group": group, "model": model, "requests": n}))
        .collect();
    (table, serde_json::Value::Array(json))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn served(number: u32, deployment: &str) -> Call {
        Call {
            number,
            status: 200,
            deployment: Some(deployment.into()),
            group: Some("group".into()),
            model: Some("model".into()),
            elapsed: Duration::ZERO,
            error: None,
        }
    }

    #[test]
    fn usage_counts_each_deployment_most_used_first_ties_by_id() {
        let calls = [
            served(1, "b"),
            served(2, "c"),
            served(3, "b"),
            served(4, "a"),
        ];
        let calls: Vec<&Call> = calls.iter().collect();
        let (table, json) = usage_table(&calls, 4);
        let rows: Vec<(Option<&str>, Option<u64>)> = json
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| (r["deployment"].as_str(), r["requests"].as_u64()))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            rows,
            [
                (Some("b"), Some(2)),
                (Some("a"), Some(1)),
                (Some("c"), Some(1))
            ]
        );
        let text = table.render();
        assert!(text.contains("50.0%") && text.contains("25.0%"), "{text}");
    }

    #[test]
    fn an_unlimited_deployment_says_so() {
        assert_eq!(rpm_text(None), "unlimited");
        assert_eq!(rpm_text(Some(3)), "3");
        assert_eq!(refusals(0), "");
        assert_eq!(refusals(9), ", 9 refused (no capacity left)");
    }
}
