#!/usr/bin/env python3
"""What boto3 sees when it sends the sandbox a request Bedrock refuses.

Run with AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE naming the files that
`resilient-llm sandbox serve --aws-config-dir DIR` wrote. Each case is one call as `genai` that
Bedrock answers with an error; the script records botocore's error code, message and HTTP status
per case and prints them as one JSON object on stdout, for the Rust test to compare with
Bedrock's own texts. A call that succeeds is recorded with code null. It exits non-zero on any
other failure, including a missing boto3.
"""

import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})
PROFILE = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
BASE_ID = "anthropic.claude-haiku-4-5-20251001-v1:0"


def user(text):
    return {"role": "user", "content": [{"text": text}]}


def outcome(call):
    try:
        call()
    except ClientError as e:
        return {"code": e.response["Error"]["Code"], "message": e.response["Error"]["Message"],
                "http_status": e.response["ResponseMetadata"]["HTTPStatusCode"]}
    return {"code": None}


def main():
    runtime = boto3.Session(profile_name="genai").client("bedrock-runtime", config=NO_RETRIES)
    tool_history = [
        user("Weather in Paris?"),
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}}]},
    ]
    anthropic_body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16, "foo": 1,
                      "messages": [{"role": "user", "content": "hi"}]}
    cases = {
        "tool_blocks_without_tool_config": lambda: runtime.converse(modelId=PROFILE, messages=tool_history),
        "assistant_first": lambda: runtime.converse(
            modelId=PROFILE, messages=[{"role": "assistant", "content": [{"text": "Hello!"}]}, user("Hi")]),
        "blank_text": lambda: runtime.converse(
            modelId=PROFILE, messages=[{"role": "user", "content": [{"text": "Hi"}, {"text": " "}]}]),
        "unknown_model": lambda: runtime.converse(modelId="anthropic.claude-9", messages=[user("hi")]),
        "on_demand_base_id": lambda: runtime.converse(modelId=BASE_ID, messages=[user("hi")]),
        "extraneous_key": lambda: runtime.invoke_model(
            modelId=PROFILE, contentType="application/json", body=json.dumps(anthropic_body)),
        "unknown_operation": lambda: runtime.apply_guardrail(
            guardrailIdentifier="g1", guardrailVersion="1", source="INPUT",
            content=[{"text": {"text": "hi"}}]),
    }
    json.dump({name: outcome(call) for name, call in cases.items()}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
