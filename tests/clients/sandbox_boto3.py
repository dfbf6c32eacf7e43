#!/usr/bin/env python3
"""An independent client for the sandbox: boto3, pointed at it only through AWS config files.

Run with AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE naming the files that
`resilient-llm sandbox serve --aws-config-dir DIR` wrote (they hold the endpoint, the Region and
the keys of the `genai` and `test` profiles). The script

1. asks STS who each profile is;
2. converses through a cross-Region inference profile as `genai`, and streams once (ConverseStream);
3. spends the `test` account's small quota on a second model until it answers ThrottlingException,
   then shows that `genai` (another account) can still call that model;
4. runs the walkthrough's Region query as each profile: as `genai` the way the walkthrough's
   scripts do (start_query, then only describe_queries until the query is Complete, then
   get_query_results once), as `test` by polling get_query_results until Complete;

and prints one JSON summary on stdout for the Rust test to check. It exits non-zero on any
unexpected error, including a missing boto3.
"""

import argparse
import json
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# Each call is one attempt, so the quota arithmetic below is exact.
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="us.anthropic.claude-opus-4-6-v1",
                        help="inference profile for the conversations and the Region query")
    parser.add_argument("--calls", type=int, default=6, help="Converse calls as genai")
    parser.add_argument("--throttle-model", default="us.amazon.nova-lite-v1:0",
                        help="model whose quota the test account has set low")
    parser.add_argument("--throttle-attempts", type=int, default=10,
                        help="most calls to make while waiting for ThrottlingException")
    parser.add_argument("--log-group", default="BedrockModelInvocation")
    return parser.parse_args()


def message(text):
    return [{"role": "user", "content": [{"text": text}]}]


def identities():
    """Account id per profile, from STS GetCallerIdentity."""
    found = {}
    for profile in ("genai", "test"):
        reply = boto3.Session(profile_name=profile).client("sts", config=NO_RETRIES).get_caller_identity()
        found[profile] = {"account": reply["Account"], "arn": reply["Arn"]}
    return found


def converse(runtime, model, calls):
    replies = [
        runtime.converse(modelId=model, messages=message(f"Say hello, number {i}."),
                         inferenceConfig={"maxTokens": 32})
        for i in range(calls)
    ]
    return {
        "calls": calls,
        "ok": len(replies),
        "stop_reasons": sorted({r["stopReason"] for r in replies}),
        "all_have_text": all(r["output"]["message"]["content"][0]["text"] for r in replies),
        "output_tokens": sum(r["usage"]["outputTokens"] for r in replies),
    }


def stream(runtime, model):
    reply = runtime.converse_stream(modelId=model, messages=message("Stream a short answer."),
                                    inferenceConfig={"maxTokens": 24})
    events, text, output_tokens = [], "", None
    for event in reply["stream"]:
        (name, body), = event.items()
        if not events or events[-1] != name:
            events.append(name)
        if name == "contentBlockDelta":
            text += body["delta"].get("text", "")
        if name == "metadata":
            output_tokens = body["usage"]["outputTokens"]
    return {"events": events, "text_length": len(text), "output_tokens": output_tokens}


def throttle(test_runtime, genai_runtime, model, attempts):
    """Calls as `test` until throttled; then once as `genai`, whose quota is its own."""
    ok, error = 0, None
    for _ in range(attempts):
        try:
            test_runtime.converse(modelId=model, messages=message("Count me."),
                                  inferenceConfig={"maxTokens": 8})
            ok += 1
        except ClientError as e:
            error = {"code": e.response["Error"]["Code"],
                     "http_status": e.response["ResponseMetadata"]["HTTPStatusCode"]}
            break
    genai_runtime.converse(modelId=model, messages=message("Not throttled."),
                           inferenceConfig={"maxTokens": 8})
    return {"ok_before_throttle": ok, "error": error, "other_account_ok": True}


def region_query(logs, group, model, poll="describe_queries", poll_limit=150):
    """The walkthrough's query, verbatim but for the profile id, polled until Complete with
    `describe_queries` (as the walkthrough's scripts do) or `get_query_results`."""
    query = (f"filter modelId like /inference-profile\\/{model}/ and toMillis(@timestamp) >= 1732650000000"
             " | stats count(*) as invocationCount by inferenceRegion | sort inferenceRegion")
    now = int(time.time())
    query_id = logs.start_query(logGroupName=group, startTime=now - 3600, endTime=now + 60,
                                queryString=query)["queryId"]
    statuses, result_calls = [], 0
    for _ in range(poll_limit):
        if poll == "describe_queries":
            described = logs.describe_queries(logGroupName=group)["queries"]
            status = next(q["status"] for q in described if q["queryId"] == query_id)
        else:
            reply = logs.get_query_results(queryId=query_id)
            result_calls += 1
            status = reply["status"]
        statuses.append(status)
        if status == "Complete":
            break
        time.sleep(0.05)
    if poll == "describe_queries":
        reply = logs.get_query_results(queryId=query_id)
        result_calls += 1
    rows = [{cell["field"]: cell["value"] for cell in row} for row in reply.get("results", [])]
    regions = {row["inferenceRegion"]: int(row["invocationCount"]) for row in rows}
    return {"polled_with": poll, "statuses": statuses, "results_status": reply["status"],
            "get_query_results_calls": result_calls, "regions": regions,
            "total": sum(regions.values()), "records_matched": reply["statistics"]["recordsMatched"]}


def malformed_query(logs, group):
    now = int(time.time())
    try:
        logs.start_query(logGroupName=group, startTime=now - 60, endTime=now, queryString="stats count(*) by bin(5m")
    except ClientError as e:
        return {"code": e.response["Error"]["Code"], "message": e.response["Error"]["Message"]}
    return {"code": None}


def main():
    args = parse_args()
    genai = boto3.Session(profile_name="genai")
    test = boto3.Session(profile_name="test")
    genai_runtime = genai.client("bedrock-runtime", config=NO_RETRIES)
    test_runtime = test.client("bedrock-runtime", config=NO_RETRIES)
    summary = {
        "boto3": boto3.__version__,
        "identities": identities(),
        "converse": converse(genai_runtime, args.model, args.calls),
        "stream": stream(genai_runtime, args.model),
        "throttle": throttle(test_runtime, genai_runtime, args.throttle_model, args.throttle_attempts),
    }
    summary["query"] = region_query(genai.client("logs", config=NO_RETRIES), args.log_group, args.model)
    summary["other_account_query"] = region_query(test.client("logs", config=NO_RETRIES), args.log_group,
                                                  args.model, poll="get_query_results")
    summary["malformed_query"] = malformed_query(genai.client("logs", config=NO_RETRIES), args.log_group)
    json.dump(summary, sys.stdout)
    print()


if __name__ == "__main__":
    main()
