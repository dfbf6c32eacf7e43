"""boto3 and the AWS CLI (PyPI `awscli`) as clients of the gateway's Bedrock Runtime routes.

Run by tests/gateway/bedrock_runtime.rs against a real gateway over HTTPS: the endpoint is the
gateway's, the CA that signed its certificate is trusted through AWS_CA_BUNDLE, and the key is
AWS_BEARER_TOKEN_BEDROCK, as an application would set them; nothing else of the code changes.
Scenarios: `surface` (converse by group and by model id, converse_stream's event order,
invoke_model and its stream, count_tokens, a tool call, an unknown model, the AWS CLI's converse,
invoke-model and count-tokens), `fallback` (a throttled primary: the client sees success),
`throttle` (a consumer past its quota gets ThrottlingException), `shard` (20 converse calls),
`sigv4` (a consumer's SigV4 key pair, and a wrong secret). Prints one JSON summary on stdout
for the Rust test to assert. Without boto3 it exits non-zero (the test fails, it does not skip).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

try:
    import boto3
    import botocore
    from botocore.config import Config
except ImportError:
    print("the `boto3` package is required: pip install boto3", file=sys.stderr)
    sys.exit(3)

USER = [{"role": "user", "content": [{"text": "Say hello in one short sentence."}]}]


def client(endpoint, retries=1):
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": retries, "mode": "standard"}),
    )


def converse(bedrock, model, **extra):
    reply = bedrock.converse(modelId=model, messages=USER, inferenceConfig={"maxTokens": 64}, **extra)
    headers = reply["ResponseMetadata"]["HTTPHeaders"]
    content = reply["output"]["message"]["content"]
    return {
        "text": "".join(b.get("text", "") for b in content),
        "blocks": [next(iter(b)) for b in content],
        "stop_reason": reply["stopReason"],
        "usage": reply["usage"],
        "request_id": reply["ResponseMetadata"].get("RequestId"),
        "deployment": headers.get("x-resilient-llm-deployment"),
        "content": content,
    }


def error_of(call):
    try:
        call()
    except botocore.exceptions.ClientError as error:
        response = error.response
        return {
            "code": response["Error"]["Code"],
            "message": response["Error"].get("Message", ""),
            "status": response["ResponseMetadata"]["HTTPStatusCode"],
            "retry_after": response["ResponseMetadata"]["HTTPHeaders"].get("retry-after"),
        }
    return None


def surface(bedrock, args):
    out = {"converse": converse(bedrock, "sonnet")}
    out["converse_by_model_id"] = converse(bedrock, args.model_id)
    stream = bedrock.converse_stream(modelId="sonnet", messages=USER, inferenceConfig={"maxTokens": 64})
    events, text = [], ""
    for event in stream["stream"]:
        name = next(iter(event))
        events.append(name)
        if name == "contentBlockDelta":
            text += event[name]["delta"].get("text", "")
        if name == "metadata":
            out["stream_usage"] = event[name]["usage"]
    out["stream_events"] = events
    out["stream_text"] = text
    tool = {"toolSpec": {"name": "get_weather", "description": "Weather of a city",
                         "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}},
                                                  "required": ["city"]}}}}
    reply = bedrock.converse(
        modelId="sonnet",
        messages=[{"role": "user", "content": [{"text": "What is the weather in Paris? Use the tool."}]}],
        toolConfig={"tools": [tool], "toolChoice": {"tool": {"name": "get_weather"}}},
        inferenceConfig={"maxTokens": 128},
    )
    calls = [b["toolUse"] for b in reply["output"]["message"]["content"] if "toolUse" in b]
    out["tool"] = {"stop_reason": reply["stopReason"], "names": [c["name"] for c in calls],
                   "inputs": [c["input"] for c in calls]}
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages":
                       [{"role": "user", "content": "Say hello in one short sentence."}]})
    reply = bedrock.invoke_model(modelId="sonnet", body=body, contentType="application/json",
                                 accept="application/json")
    out["invoke"] = {"body": json.loads(reply["body"].read()), "content_type": reply["contentType"],
                     "deployment": reply["ResponseMetadata"]["HTTPHeaders"].get("x-resilient-llm-deployment")}
    reply = bedrock.invoke_model_with_response_stream(modelId="sonnet", body=body)
    types = []
    for event in reply["body"]:
        if "chunk" in event:
            types.append(json.loads(event["chunk"]["bytes"])["type"])
    out["invoke_stream_types"] = types
    out["invoke_nova"] = error_of(lambda: bedrock.invoke_model(modelId="nova-only", body=body))
    count = bedrock.count_tokens(modelId="sonnet", input={"converse": {"messages": USER}})
    out["count_tokens"] = {"input_tokens": count["inputTokens"],
                           "counted_by": count["ResponseMetadata"]["HTTPHeaders"].get("x-resilient-llm-counted-by")}
    out["unknown_model"] = error_of(lambda: converse(bedrock, "no-such-model"))
    out["bad_body"] = error_of(lambda: bedrock.converse(modelId="sonnet", messages=[
        {"role": "robot", "content": [{"text": "hi"}]}]))
    # An OpenAI-compatible deployment behind Bedrock's API: converted both ways.
    out["compat"] = converse(bedrock, "compat")
    stream = bedrock.converse_stream(modelId="compat", messages=USER)
    out["compat_stream_events"] = [next(iter(e)) for e in stream["stream"]]
    out["cli"] = cli(args)
    return out


def cli(args):
    """The AWS CLI (v1, from PyPI) with the same endpoint and token: its non-streaming calls (v1
has no converse-stream or invoke-model-with-response-stream)."""
    env = dict(os.environ)
    base = ["aws", "bedrock-runtime", "--region", "us-east-1", "--endpoint-url", args.endpoint, "--output", "json"]
    out = {}
    run = subprocess.run(base + ["converse", "--model-id", "sonnet", "--messages", json.dumps(USER)],
                         capture_output=True, text=True, env=env, timeout=60)
    if run.returncode != 0:
        raise SystemExit(f"aws bedrock-runtime converse failed: {run.stderr}")
    reply = json.loads(run.stdout)
    out["converse_text"] = "".join(b.get("text", "") for b in reply["output"]["message"]["content"])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "reply.json")
        body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 32,
                           "messages": [{"role": "user", "content": "hi"}]})
        run = subprocess.run(base + ["invoke-model", "--model-id", "sonnet", "--body", body,
                                     path],
                             capture_output=True, text=True, env=env, timeout=60)
        if run.returncode != 0:
            raise SystemExit(f"aws bedrock-runtime invoke-model failed: {run.stderr}")
        with open(path) as f:
            out["invoke_type"] = json.load(f)["type"]
    run = subprocess.run(base + ["count-tokens", "--model-id", "sonnet", "--input",
                                 json.dumps({"converse": {"messages": USER}})],
                         capture_output=True, text=True, env=env, timeout=60)
    if run.returncode != 0:
        raise SystemExit(f"aws bedrock-runtime count-tokens failed: {run.stderr}")
    out["count_tokens"] = json.loads(run.stdout)["inputTokens"]
    run = subprocess.run(base + ["converse", "--model-id", "no-such-model", "--messages", json.dumps(USER)],
                         capture_output=True, text=True, env=env, timeout=60)
    out["unknown_model_exit"] = run.returncode
    out["unknown_model_stderr"] = run.stderr.strip()
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--ca-bundle", required=True)
    parser.add_argument("--token")
    parser.add_argument("--access-key")
    parser.add_argument("--secret-key")
    parser.add_argument("--model-id", default="")
    parser.add_argument("--scenario", required=True)
    args = parser.parse_args()
    os.environ["AWS_CA_BUNDLE"] = args.ca_bundle
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    if args.token:
        os.environ["AWS_BEARER_TOKEN_BEDROCK"] = args.token
    if args.access_key:
        os.environ["AWS_ACCESS_KEY_ID"] = args.access_key
        os.environ["AWS_SECRET_ACCESS_KEY"] = args.secret_key
    # No shared files: what the client sends is only what this script sets.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    bedrock = client(args.endpoint)
    if args.scenario == "surface":
        out = surface(bedrock, args)
    elif args.scenario == "fallback":
        out = {"calls": [converse(bedrock, "primary") for _ in range(3)]}
    elif args.scenario == "throttle":
        out = {"first": converse(bedrock, "sonnet"),
               "second": error_of(lambda: converse(bedrock, "sonnet"))}
    elif args.scenario == "shard":
        out = {"deployments": [converse(bedrock, "shard")["deployment"] for _ in range(20)]}
    elif args.scenario == "sigv4":
        out = {"converse": converse(bedrock, "sonnet")}
        out["stream_events"] = [next(iter(e)) for e in bedrock.converse_stream(
            modelId="sonnet", messages=USER)["stream"]]
    elif args.scenario == "sigv4-refused":
        out = {"error": error_of(lambda: converse(bedrock, "sonnet"))}
    else:
        raise SystemExit(f"unknown scenario {args.scenario}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
