//! Fuzzes the sandbox's Logs Insights subset: any query text parses or gives a `QueryError`
//! that points inside the query; a parsed query runs over a few fixed invocation-log records
//! without panicking, with `limit` and `max_rows` respected.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use resilient_llm::sandbox::logs::insights::{Command, Record, Value, parse};
use serde_json::json;

const BASE_MS: i64 = 1_732_650_000_000;

fn records() -> &'static [Record] {
    static RECORDS: OnceLock<Vec<Record>> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let opus =
            "arn:aws:bedrock:us-east-1:111111111111:inference-profile/us.anthropic.claude-opus-4-6-v1";
        let events = [
            json!({ "modelId": opus, "inferenceRegion": "us-east-1", "operation": "Converse",
                    "input": { "inputTokenCount": 10 }, "output": { "outputTokenCount": 5 } }),
            json!({ "modelId": opus, "inferenceRegion": "us-west-2", "operation": "ConverseStream",
                    "input": { "inputTokenCount": 20 }, "output": { "outputTokenCount": 7 },
                    "errorCode": "ThrottlingException" }),
            json!({ "modelId": "amazon.nova-lite-v1:0", "inferenceRegion": "us-east-2",
                    "operation": "InvokeModel", "input": { "inputTokenCount": -3.5 },
                    "tags": ["a", null, true, 1e300] }),
        ];
        let mut records: Vec<Record> = events
            .iter()
            .zip(0i64..)
            .map(|(event, i)| {
                Record::from_event(BASE_MS + 1000 * i, "111111111111:/aws/bedrock/invocations",
                                   "aws/bedrock/modelinvocations", event)
            })
            .collect();
        records.push(Record::from_fields([
            ("@timestamp".to_owned(), Value::Number(f64::NAN)),
            ("n".to_owned(), Value::Number(f64::INFINITY)),
            ("s".to_owned(), Value::Str(String::new())),
        ]));
        records.push(Record::from_fields([("@timestamp".to_owned(), Value::Timestamp(i64::MIN))]));
        records.push(Record::default());
        records
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text) {
        Ok(query) => {
            let records = records();
            let rows = query.run(records);
            let output = query.execute(records, Some(2));
            assert!(output.rows.len() <= 2, "max_rows ignored");
            assert!(output.records_matched <= records.len() as u64);
            if let Some(Command::Limit(limit)) = query.commands.last() {
                assert!(
                    rows.len() <= *limit,
                    "{} rows past `limit {limit}`",
                    rows.len()
                );
            }
        }
        Err(error) => {
            let chars = text.chars().count();
            assert!(error.offset <= error.end_offset, "{error:?}");
            assert!(
                error.end_offset <= chars,
                "error past the end of the query: {error:?}"
            );
            assert!(error.line >= 1 && error.column >= 1, "{error:?}");
            assert!(!error.message.is_empty());
            let _ = error.to_string();
        }
    }
});
