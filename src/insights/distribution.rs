//! A query's rows read as invocation counts per key (Region, model or account), and the
//! `Key | Invocations | Percentage` table with bars that the demos and the report print.

use aws_sdk_cloudwatchlogs::types::ResultField;
use serde_json::{Value, json};

use crate::render::{Table, percent};

/// The key shown for records without the grouped field (throttled or failed calls have no
/// `inferenceRegion`).
pub const NO_VALUE: &str = "(none)";

/// Invocation counts per key (Region, model or account), as the query returned them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Distribution {
    /// `(key, count)`; the key is `None` for records without the grouped field.
    pub rows: Vec<(Option<String>, u64)>,
}

impl Distribution {
    /// Reads `key_field` and `count_field` from each result row.
    pub fn from_results(results: &[Vec<ResultField>], key_field: &str, count_field: &str) -> Self {
        let value = |row: &[ResultField], name: &str| {
            row.iter()
                .find(|f| f.field() == Some(name))
                .and_then(|f| f.value())
                .map(str::to_string)
        };
        let mut rows: Vec<(Option<String>, u64)> = results
            .iter()
            .map(|row| {
                let count = value(row, count_field)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0);
                (
                    value(row, key_field).filter(|k| !k.is_empty()),
                    count as u64,
                )
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        Distribution { rows }
    }

    /// Every counted record.
    pub fn total(&self) -> u64 {
        self.rows.iter().map(|(_, n)| n).sum()
    }

    /// Records that have the grouped field (for Regions: calls that ran somewhere).
    pub fn keyed_total(&self) -> u64 {
        self.rows
            .iter()
            .filter(|(k, _)| k.is_some())
            .map(|(_, n)| n)
            .sum()
    }

    /// The rows with a key, in key order.
    pub fn keyed(&self) -> impl Iterator<Item = (&str, u64)> {
        self.rows
            .iter()
            .filter_map(|(k, n)| k.as_deref().map(|k| (k, *n)))
    }

    /// How many distinct keys were counted.
    pub fn key_count(&self) -> usize {
        self.keyed().count()
    }

    /// `Header | Invocations | Percentage` with a bar per row, keyed rows only, percentages of
    /// the keyed total.
    pub fn table(&self, key_header: &str) -> Table {
        let total = self.keyed_total();
        let mut table = Table::new([key_header, "Invocations", "Percentage"]);
        for (key, n) in self.keyed() {
            let fraction = if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            };
            table.row_with_bar(
                [key.to_string(), n.to_string(), percent(n, total)],
                fraction,
            );
        }
        table
    }

    /// `{"us-east-1": 5, …}` over keyed rows.
    pub fn counts_json(&self) -> Value {
        Value::Object(
            self.keyed()
                .map(|(k, n)| (k.to_string(), json!(n)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, value: &str) -> ResultField {
        ResultField::builder().field(name).value(value).build()
    }

    #[test]
    fn distributions_read_rows_and_keep_unkeyed_counts_apart() {
        let results = vec![
            vec![
                field("inferenceRegion", "us-west-2"),
                field("invocationCount", "2"),
            ],
            vec![
                field("inferenceRegion", "us-east-1"),
                field("invocationCount", "3"),
            ],
            vec![field("invocationCount", "4")],
        ];
        let d = Distribution::from_results(&results, "inferenceRegion", "invocationCount");
        assert_eq!(d.total(), 9);
        assert_eq!(d.keyed_total(), 5);
        assert_eq!(
            d.keyed().collect::<Vec<_>>(),
            vec![("us-east-1", 3), ("us-west-2", 2)]
        );
        assert_eq!(d.counts_json(), json!({"us-east-1": 3, "us-west-2": 2}));
        assert!(d.table("Region").render().contains("60.0%"));
    }
}
