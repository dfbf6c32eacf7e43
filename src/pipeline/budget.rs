//! Spend budgets at admission: each request reserves the most it could cost (its estimated
//! prompt and `max_tokens`, else the model's default output, at the dearest price among the
//! group's deployments) against the gateway's budget and its consumer's for the current period,
//! and settles to what it did cost when it ends; a request that reached no answer hands its
//! reservation back. The spend lives in the state store (shared through Redis), one key per
//! budget period, so every replica counts against the same figure. A budget that cannot take a
//! request refuses it with 400 `budget_exceeded`, naming the spend, the limit and the reset.

use std::fmt;
use std::time::Duration;

use super::Store;
use super::request::{Caller, RouteRequest};
use crate::config::{Budget, Deployment, TokenCounts};
use crate::content::ServiceTier;
use crate::router::StateStore;

/// How long a period's key outlives its end, and how long a key of a budget that never resets
/// lives after its last write.
const KEEP_AFTER: Duration = Duration::from_secs(86_400);
const KEEP_FOREVER: Duration = Duration::from_secs(400 * 86_400);

/// USD as nano-USD.
fn nano(usd: f64) -> u64 {
    (usd * 1e9).ceil().max(0.0) as u64
}

/// The budgets a request holds reservations in.
#[derive(Debug, Default)]
pub struct BudgetHold {
    held: Vec<Held>,
}

#[derive(Debug)]
struct Held {
    key: String,
    reserved: u64,
    keep: Duration,
}

/// A budget that refused: whose, what it has spent and allows, when it resets.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetRefusal {
    /// `consumer "name"` or `the gateway`.
    pub whose: String,
    pub spent_usd: f64,
    pub max_usd: f64,
    /// What this request could have cost.
    pub reserve_usd: f64,
    /// When the period ends (Unix seconds); `None` for a budget that never resets.
    pub resets_at: Option<i64>,
}

impl fmt::Display for BudgetRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Budget has been exceeded! Current cost: {:.6}, Max budget: {} ({}; this request could cost up to {:.6})",
            self.spent_usd, self.max_usd, self.whose, self.reserve_usd
        )?;
        match self
            .resets_at
            .and_then(|at| chrono::DateTime::from_timestamp(at, 0))
        {
            Some(at) => write!(f, "; it resets at {}", at.format("%Y-%m-%dT%H:%M:%SZ")),
            None => write!(f, "; it does not reset (no budget_duration)"),
        }
    }
}

/// The most a request could cost on any of `deployments` (USD): its prompt and its output
/// reservation at each one's price in `tier`; 0 where none has a price.
pub fn max_cost(
    deployments: &[std::sync::Arc<Deployment>],
    request: &RouteRequest<'_>,
    tier: Option<ServiceTier>,
) -> f64 {
    deployments
        .iter()
        .filter_map(|d| {
            let price = d.price?.in_tier(tier);
            let counts = TokenCounts {
                input: request.input_tokens,
                output: d.quota.reserved_output(request.max_output_tokens),
                ..TokenCounts::default()
            };
            Some(price.cost(counts))
        })
        .fold(0.0, f64::max)
}

/// The key of `budget`'s current period for `owner`, with its end and how long to keep it.
fn period(owner: &str, budget: &Budget, now: i64) -> (String, Option<i64>, Duration) {
    let (start, end) = budget.period.bounds(now);
    let keep = match end {
        Some(end) => Duration::from_secs(u64::try_from(end - now).unwrap_or(0)) + KEEP_AFTER,
        None => KEEP_FOREVER,
    };
    (format!("{owner}:{start}"), end, keep)
}

/// Whether any budget applies to `caller` (the gateway's, or its consumer's own).
pub fn applies(gateway: Option<&Budget>, caller: Caller<'_>) -> bool {
    budgets(gateway, caller).next().is_some()
}

impl BudgetHold {
    /// Whether it holds no reservation (no budget applied).
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// The budgets that apply to `caller`: the gateway's, then its consumer's.
fn budgets<'a>(
    gateway: Option<&'a Budget>,
    caller: Caller<'a>,
) -> impl Iterator<Item = (String, String, &'a Budget)> {
    let consumer = match caller {
        Caller::Consumer(c) => c.budget.as_ref().map(|b| {
            (
                format!("consumer:{}", c.name),
                format!("consumer {:?}", c.name),
                b,
            )
        }),
        Caller::Open | Caller::Master => None,
    };
    gateway
        .map(|b| ("gateway".to_owned(), "the gateway".to_owned(), b))
        .into_iter()
        .chain(consumer)
}

/// Reserves `reserve_usd` in every budget that applies, or none of them.
pub async fn reserve(
    store: &Store,
    gateway: Option<&Budget>,
    caller: Caller<'_>,
    reserve_usd: f64,
    now: i64,
) -> Result<BudgetHold, BudgetRefusal> {
    let mut hold = BudgetHold::default();
    let reserved = nano(reserve_usd);
    for (owner, whose, budget) in budgets(gateway, caller) {
        let (key, resets_at, keep) = period(&owner, budget, now);
        match store
            .reserve_budget(&key, nano(budget.max_usd), reserved, keep)
            .await
        {
            Ok(_) => hold.held.push(Held {
                key,
                reserved,
                keep,
            }),
            Err(spent) => {
                release(store, hold).await;
                return Err(BudgetRefusal {
                    whose,
                    spent_usd: spent as f64 / 1e9,
                    max_usd: budget.max_usd,
                    reserve_usd,
                    resets_at,
                });
            }
        }
    }
    Ok(hold)
}

/// Settles every reservation of `hold` to `cost_usd`.
pub async fn settle(store: &Store, hold: BudgetHold, cost_usd: f64) {
    let cost = i64::try_from(nano(cost_usd)).unwrap_or(i64::MAX);
    for held in hold.held {
        let reserved = i64::try_from(held.reserved).unwrap_or(i64::MAX);
        store
            .settle_budget(&held.key, cost - reserved, held.keep)
            .await;
    }
}

/// Hands every reservation of `hold` back.
pub async fn release(store: &Store, hold: BudgetHold) {
    settle(store, hold, 0.0).await;
}

/// What `caller`'s budgets (the gateway's and its own) have spent this period, with their
/// limits and ends, for `/spend`.
pub async fn spent(
    store: &Store,
    gateway: Option<&Budget>,
    caller: Caller<'_>,
    now: i64,
) -> Vec<(String, f64, f64, Option<i64>)> {
    let mut out = Vec::new();
    for (owner, whose, budget) in budgets(gateway, caller) {
        let (key, resets_at, _) = period(&owner, budget, now);
        let spent = store.budget_spent(&key).await as f64 / 1e9;
        out.push((whose, spent, budget.max_usd, resets_at));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BudgetPeriod, Config, load_str};
    use crate::router::{AnyStore, MemoryStore};

    fn config() -> Config {
        load_str(
            "gateway:\n  consumers:\n    - {name: app, key: sk-app-key-0001, max_budget: 0.01, budget_duration: 1d}\nmodel_list:\n  - model_name: g\n    litellm_params: {model: bedrock/us.amazon.nova-lite-v1:0}\n",
            std::path::Path::new("budget.yaml"),
            &|_| None,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_budget_takes_reservations_until_it_is_full_and_settles_to_the_cost() {
        let config = config();
        let store = AnyStore::Memory(MemoryStore::new(&config));
        let consumer = Caller::Consumer(&config.gateway.consumers[0]);
        let gateway = Budget {
            max_usd: 1.0,
            period: BudgetPeriod::Forever,
        };
        let now = 1_764_700_000;
        let first = reserve(&store, Some(&gateway), consumer, 0.006, now)
            .await
            .unwrap();
        // 0.006 + 0.006 > 0.01: refused, and the gateway's reservation handed back.
        let refused = reserve(&store, Some(&gateway), consumer, 0.006, now)
            .await
            .unwrap_err();
        assert_eq!(refused.whose, "consumer \"app\"");
        assert!((refused.spent_usd - 0.006).abs() < 1e-9);
        let text = refused.to_string();
        assert!(
            text.starts_with("Budget has been exceeded! Current cost: 0.006000, Max budget: 0.01"),
            "{text}"
        );
        assert!(text.contains("it resets at 2025-12-03T00:00:00Z"), "{text}");
        // The call cost less than it reserved: the rest is free again.
        settle(&store, first, 0.001).await;
        let spent = spent(&store, Some(&gateway), consumer, now).await;
        assert!((spent[0].1 - 0.001).abs() < 1e-9, "{spent:?}");
        assert!((spent[1].1 - 0.001).abs() < 1e-9, "{spent:?}");
        assert!(
            reserve(&store, Some(&gateway), consumer, 0.006, now)
                .await
                .is_ok()
        );
        // The next day is a new period.
        let tomorrow = now + 86_400;
        let fresh = reserve(&store, None, consumer, 0.009, tomorrow).await;
        assert!(fresh.is_ok());
    }
}
