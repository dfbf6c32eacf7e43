//! Table tests: queries with records and the rows they must give; malformed queries and where.

use serde_json::json;

use super::{Record, parse};

/// Bedrock-style invocation-log events at one-second steps from `BASE_MS`.
const BASE_MS: i64 = 1_732_650_000_000;

fn event(
    model: &str,
    region: &str,
    input: u64,
    output: u64,
    error: Option<&str>,
) -> serde_json::Value {
    let mut event = json!({
        "schemaType": "ModelInvocationLog",
        "accountId": "111111111111",
        "identity": { "arn": "arn:aws:iam::111111111111:user/genai" },
        "modelId": model,
        "inferenceRegion": region,
        "operation": "Converse",
        "input": { "inputTokenCount": input },
        "output": { "outputTokenCount": output },
    });
    if let Some(code) = error {
        event["errorCode"] = json!(code);
    }
    event
}

fn records() -> Vec<Record> {
    let opus =
        "arn:aws:bedrock:us-east-1:111111111111:inference-profile/us.anthropic.claude-opus-4-6-v1";
    let sonnet =
        "arn:aws:bedrock:us-east-1:111111111111:inference-profile/us.anthropic.claude-sonnet-4-6";
    let events = [
        event(opus, "us-east-1", 10, 5, None),
        event(opus, "us-west-2", 20, 7, None),
        event(opus, "us-east-1", 30, 9, Some("ThrottlingException")),
        event(sonnet, "us-east-2", 40, 11, None),
        event("amazon.nova-lite-v1:0", "us-east-1", 50, 13, None),
        event(opus, "us-east-2", 60, 15, None),
    ];
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let ms = BASE_MS - 2000 + 1000 * i64::try_from(i).unwrap();
            Record::from_event(
                ms,
                "111111111111:/aws/bedrock/invocations",
                "aws/bedrock/modelinvocations",
                e,
            )
        })
        .collect()
}

/// Renders rows compactly: `field=value` joined by `,`, rows by `;`.
fn show(rows: &[Vec<(String, String)>]) -> String {
    rows.iter()
        .map(|row| {
            row.iter()
                .map(|(f, v)| format!("{f}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[test]
fn queries_give_the_expected_rows() {
    let walkthrough = "filter modelId like /inference-profile\\/us.anthropic.claude-opus-4-6-v1/ and \
                       toMillis(@timestamp) >= 1732650000000 | stats count(*) as invocationCount by \
                       inferenceRegion | sort inferenceRegion";
    let cases: &[(&str, &str)] = &[
        (
            walkthrough,
            "inferenceRegion=us-east-1,invocationCount=1;inferenceRegion=us-east-2,invocationCount=1",
        ),
        (
            "filter modelId like /claude-opus/ | stats count(*) as n by inferenceRegion | sort n desc, inferenceRegion",
            "inferenceRegion=us-east-1,n=2;inferenceRegion=us-east-2,n=1;inferenceRegion=us-west-2,n=1",
        ),
        ("stats count(*)", "count(*)=6"),
        (
            "stats count(errorCode) as errors, count() as all",
            "errors=1,all=6",
        ),
        (
            "stats sum(input.inputTokenCount) as input, avg(output.outputTokenCount) as out, \
             min(input.inputTokenCount), max(input.inputTokenCount)",
            "input=210,out=10,min(input.inputTokenCount)=10,max(input.inputTokenCount)=60",
        ),
        (
            "filter inferenceRegion = 'us-east-1' | stats avg(input.inputTokenCount) as a by operation",
            "operation=Converse,a=30",
        ),
        (
            "filter input.inputTokenCount <= 30 | stats avg(output.outputTokenCount) as a",
            "a=7",
        ),
        (
            "filter input.inputTokenCount > 10 and input.inputTokenCount < 40 | fields input.inputTokenCount | sort input.inputTokenCount",
            "input.inputTokenCount=20;input.inputTokenCount=30",
        ),
        (
            "filter inferenceRegion != \"us-east-1\" | fields inferenceRegion as r | sort r desc",
            "r=us-west-2;r=us-east-2;r=us-east-2",
        ),
        (
            "filter not (modelId like /anthropic/) or errorCode = 'ThrottlingException' | fields input.inputTokenCount as i | sort i",
            "i=30;i=50",
        ),
        (
            "filter modelId not like /anthropic/ | fields modelId",
            "modelId=amazon.nova-lite-v1:0",
        ),
        (
            "filter modelId like \"nova\" | fields operation, `identity.arn`",
            "operation=Converse,identity.arn=arn:aws:iam::111111111111:user/genai",
        ),
        (
            "filter modelId =~ /nova/ | fields toMillis(@timestamp) as t",
            "t=1732650002000",
        ),
        (
            "filter toMillis(@timestamp) < 1732649998500 | fields @timestamp",
            "@timestamp=2024-11-26 19:39:58.000",
        ),
        (
            "filter errorCode != 'x' | fields errorCode",
            "errorCode=ThrottlingException",
        ),
        (
            "filter missing = 1 or missing != 1 or missing < 1 | fields modelId",
            "",
        ),
        ("fields input.inputTokenCount as i | limit 2", "i=60;i=50"),
        (
            "fields input.inputTokenCount as i | sort i asc | limit 2",
            "i=10;i=20",
        ),
        (
            "filter input.inputTokenCount >= 50 | fields inferenceRegion | fields input.inputTokenCount as i",
            "inferenceRegion=us-east-2,i=60;inferenceRegion=us-east-1,i=50",
        ),
        (
            "stats count(*) as n by inferenceRegion, operation | sort inferenceRegion | limit 1",
            "inferenceRegion=us-east-1,operation=Converse,n=3",
        ),
        (
            "stats count(*) as n by inferenceRegion | filter n > 2 | fields inferenceRegion",
            "inferenceRegion=us-east-1",
        ),
        ("filter input.inputTokenCount = -5 | stats count(*)", ""),
        (
            "filter input.inputTokenCount = '20' | fields output.outputTokenCount",
            "output.outputTokenCount=7",
        ),
        (
            "FILTER inferenceRegion = 'us-west-2' # a comment\n| FIELDS `inferenceRegion`",
            "inferenceRegion=us-west-2",
        ),
    ];
    let records = records();
    for (query, expected) in cases {
        let parsed = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(show(&parsed.run(&records)), *expected, "query: {query}");
    }
}

#[test]
fn default_columns_are_timestamp_and_message_newest_first() {
    let records = records();
    let rows = parse("filter inferenceRegion = 'us-west-2' or inferenceRegion = 'us-east-2'")
        .unwrap()
        .run(&records);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0][0],
        (
            "@timestamp".to_owned(),
            "2024-11-26 19:40:03.000".to_owned()
        )
    );
    assert_eq!(rows[0][1].0, "@message");
    let message: serde_json::Value = serde_json::from_str(&rows[0][1].1).unwrap();
    assert_eq!(message["input"]["inputTokenCount"], 60);
}

#[test]
fn averages_keep_three_decimals_and_counts_matched_records() {
    let records: Vec<Record> = [1, 2, 2]
        .iter()
        .map(|n| {
            Record::from_event(
                BASE_MS,
                "g",
                "s",
                &json!({ "n": n, "half": f64::from(*n) / 2.0 }),
            )
        })
        .collect();
    let output = parse("filter n >= 1 | stats avg(n) as a, sum(half) as h")
        .unwrap()
        .execute(&records, None);
    assert_eq!(show(&output.rows), "a=1.667,h=2.5");
    assert_eq!(output.records_matched, 3);
}

#[test]
fn limits_apply_by_default_and_by_request() {
    let records: Vec<Record> = (0..1500)
        .map(|i| Record::from_event(BASE_MS + i, "g", "s", &json!({ "i": i })))
        .collect();
    let query = parse("fields i").unwrap();
    assert_eq!(query.run(&records).len(), 1000);
    assert_eq!(query.execute(&records, Some(7)).rows.len(), 7);
    assert_eq!(query.execute(&records, None).records_matched, 1500);
    assert_eq!(
        parse("fields i | limit 1200").unwrap().run(&records).len(),
        1200
    );
}

#[test]
fn malformed_queries_name_the_token_and_its_position() {
    // (query, offending token, offset, line, column)
    let cases: &[(&str, &str, usize, usize, usize)] = &[
        ("", "end of query", 0, 1, 1),
        ("filter", "end of query", 6, 1, 7),
        ("fitler x = 1", "fitler", 0, 1, 1),
        (
            "filter x = 1 | parse @message 'a*b' as c",
            "parse",
            15,
            1,
            16,
        ),
        ("filter x = ", "end of query", 11, 1, 12),
        ("filter x in [1, 2]", "in", 9, 1, 10),
        ("stats count(*) by bin(5m)", "bin", 18, 1, 19),
        (
            "stats count(*) by inferenceRegion\n| sort by x",
            "by",
            41,
            2,
            8,
        ),
        ("stats pct(x, 50)", "pct", 6, 1, 7),
        ("stats sum(*)", "*", 10, 1, 11),
        ("filter x like /abc", "/abc", 14, 1, 15),
        ("filter x like /a(b/", "/a(b/", 14, 1, 15),
        ("filter x like 5", "5", 14, 1, 15),
        ("filter 'abc", "'abc", 7, 1, 8),
        ("limit 0", "0", 6, 1, 7),
        ("limit 2.5", "2.5", 6, 1, 7),
        ("filter x = 1 and", "end of query", 16, 1, 17),
        ("filter (x = 1", "end of query", 13, 1, 14),
        ("filter x = 1 y", "y", 13, 1, 14),
        ("fields a,\n  b ^ c", "^", 14, 2, 5),
        ("filter strlen(x) > 1", "strlen", 7, 1, 8),
        ("fields x as and", "and", 12, 1, 13),
        ("sort x descending", "descending", 7, 1, 8),
        ("filter x = 5m", "5m", 11, 1, 12),
    ];
    for (query, token, offset, line, column) in cases {
        let error = parse(query)
            .err()
            .unwrap_or_else(|| panic!("{query:?} parsed"));
        assert_eq!(
            (error.token.as_str(), error.offset, error.line, error.column),
            (*token, *offset, *line, *column),
            "query {query:?}: {error}"
        );
        let text = error.to_string();
        assert!(
            text.contains(&format!("line {line}, column {column}")),
            "{text}"
        );
    }
}

#[test]
fn regex_literals_keep_escapes_other_than_slash() {
    let record = Record::from_event(
        BASE_MS,
        "g",
        "s",
        &json!({ "path": "a/b.c", "other": "a/bxc" }),
    );
    let query = parse(r"filter path like /a\/b\.c/ | fields path").unwrap();
    assert_eq!(
        show(&query.run(std::slice::from_ref(&record))),
        "path=a/b.c"
    );
    let query = parse(r"filter other like /a\/b\.c/ | fields other").unwrap();
    assert_eq!(show(&query.run(&[record])), "");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let query = format!("filter {}x = 1{}", "(".repeat(10_000), ")".repeat(10_000));
    let error = parse(&query).err().unwrap();
    assert!(error.message.contains("nested"), "{error}");
    assert!(parse(&format!("filter {}x", "not ".repeat(10_000))).is_err());
    assert!(parse(&format!("filter {}x = 1{}", "(".repeat(20), ")".repeat(20))).is_ok());
}

/// Queries glued from random fragments never panic the parser or the evaluator.
#[test]
fn random_queries_parse_or_fail_cleanly() {
    const FRAGMENTS: &[&str] = &[
        "filter",
        "fields",
        "stats",
        "sort",
        "limit",
        "|",
        ",",
        "(",
        ")",
        "*",
        "-",
        "=",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "=~",
        "and",
        "or",
        "not",
        "like",
        "as",
        "by",
        "asc",
        "desc",
        "count(*)",
        "sum(",
        "avg(",
        "min(",
        "max(",
        "toMillis(",
        "@timestamp",
        "modelId",
        "input.inputTokenCount",
        "`a b`",
        "'s'",
        "\"t\"",
        "/re/",
        "/a\\/b/",
        "/(/",
        "5",
        "2.5",
        "0",
        "#c\n",
        "é",
        "\\",
        "'",
        "/",
        "`",
    ];
    let records = records();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |bound: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(state >> 33).unwrap() % bound
    };
    let mut parsed = 0;
    for _ in 0..5000 {
        let length = 1 + next(8);
        let query: Vec<&str> = (0..length)
            .map(|_| FRAGMENTS[next(FRAGMENTS.len())])
            .collect();
        let query = query.join(" ");
        match parse(&query) {
            Ok(q) => {
                parsed += 1;
                q.run(&records);
            }
            Err(e) => assert!(
                e.offset <= query.chars().count() && e.line >= 1 && e.column >= 1,
                "{query:?}: {e}"
            ),
        }
    }
    assert!(parsed > 0, "some random queries are valid");
}
