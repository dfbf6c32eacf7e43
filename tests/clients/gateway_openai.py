"""The official `openai` Python package as a client of `resilient-llm gateway serve`.

Run by tests/gateway/process.rs against a real gateway process. Exercises the compatibility
promise: a plain completion and a stream for each model given, `with_raw_response` headers,
`openai.RateLimitError` on a 429 and `openai.NotFoundError` on an unknown model. Prints one
JSON summary on stdout for the Rust test to assert. Without the `openai` package it exits
non-zero (the test fails, it does not skip).
"""

import argparse
import json
import sys

try:
    import openai
except ImportError:
    print("the `openai` package is required: pip install openai", file=sys.stderr)
    sys.exit(3)


def completion(client, model):
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hello in one short sentence."}],
        max_tokens=64,
    )
    choice = reply.choices[0]
    return {
        "object": reply.object,
        "model": reply.model,
        "text": choice.message.content,
        "finish_reason": choice.finish_reason,
        "total_tokens": reply.usage.total_tokens if reply.usage else None,
    }


def stream(client, model):
    chunks = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Count to three."}],
        max_tokens=64,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, models, count = "", None, None, set(), 0
    for chunk in chunks:
        count += 1
        models.add(chunk.model)
        if chunk.usage is not None:
            usage = chunk.usage.total_tokens
        for choice in chunk.choices:
            if choice.delta.content:
                text += choice.delta.content
            if choice.finish_reason:
                finish = choice.finish_reason
    return {
        "chunks": count,
        "models": sorted(models),
        "text": text,
        "finish_reason": finish,
        "total_tokens": usage,
    }


def raw_headers(client, model):
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": "Hi"}],
        max_tokens=16,
    )
    parsed = raw.parse()
    names = [
        "x-resilient-llm-deployment",
        "x-resilient-llm-model-group",
        "x-resilient-llm-attempts",
        "x-resilient-llm-fallbacks",
        "x-litellm-model-id",
        "x-litellm-model-group",
    ]
    return {
        "status": raw.http_response.status_code,
        "headers": {name: raw.headers.get(name) for name in names},
        "model": parsed.model,
    }


def expect_error(client, model, error_type):
    try:
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=16
        )
    except error_type as error:
        body = error.body if isinstance(error.body, dict) else {}
        return {
            "raised": type(error).__name__,
            "status": error.status_code,
            "type": body.get("type"),
            "retry_after": error.response.headers.get("retry-after"),
        }
    except openai.APIError as error:
        return {"raised": type(error).__name__, "status": getattr(error, "status_code", None)}
    return {"raised": None}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--limited-model", required=True)
    args = parser.parse_args()

    client = openai.OpenAI(
        base_url=args.base_url, api_key=args.api_key, max_retries=0, timeout=60
    )
    summary = {
        "openai_version": openai.__version__,
        "completions": {m: completion(client, m) for m in args.model},
        "streams": {m: stream(client, m) for m in args.model},
        "raw": raw_headers(client, args.model[0]),
        "unknown_model": expect_error(client, "no-such-model", openai.NotFoundError),
    }
    # The limited model takes one request a minute: the first succeeds, the second is refused.
    completion(client, args.limited_model)
    summary["rate_limited"] = expect_error(client, args.limited_model, openai.RateLimitError)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
