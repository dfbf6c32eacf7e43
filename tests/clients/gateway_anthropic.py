"""The official `anthropic` Python package as a client of the gateway's Messages surface.

Run by tests/gateway/anthropic.rs against a real gateway. Exercises: a message, a stream (the
event names in order), count_tokens, a tool round trip (tool_use, then tool_result back), a
cache write then a cache read, a thinking round trip (its signed block sent back; an edited one
refused), `anthropic.NotFoundError` on an unknown model,
`anthropic.RateLimitError` with `retry-after` on a group at its limit, a consumer key at its own
limit, and a request whose first group is throttled falling back to another. Prints one JSON
summary on stdout for the Rust test to assert. Without the `anthropic` package it exits
non-zero (the test fails, it does not skip).
"""

import argparse
import json
import sys

try:
    import anthropic
except ImportError:
    print("the `anthropic` package is required: pip install anthropic", file=sys.stderr)
    sys.exit(3)

USER = [{"role": "user", "content": "Say hello in one short sentence."}]


def create(client, model):
    raw = client.messages.with_raw_response.create(model=model, max_tokens=64, messages=USER)
    message = raw.parse()
    return {
        "type": message.type,
        "role": message.role,
        "model": message.model,
        "text": "".join(b.text for b in message.content if b.type == "text"),
        "stop_reason": message.stop_reason,
        "input_tokens": message.usage.input_tokens,
        "output_tokens": message.usage.output_tokens,
        "request_id": raw.headers.get("request-id"),
        "deployment": raw.headers.get("x-resilient-llm-deployment"),
    }


def stream(client, model):
    names, text = [], ""
    with client.messages.stream(model=model, max_tokens=64, messages=USER,
                                system=[{"type": "text", "text": "Be brief.",
                                         "cache_control": {"type": "ephemeral"}}]) as events:
        for event in events:
            # The SDK adds its own helper events (`text`, `input_json`); the wire's are these.
            if event.type in ("message_start", "content_block_start", "content_block_delta",
                              "content_block_stop", "message_delta", "message_stop", "ping"):
                names.append(event.type)
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                text += event.delta.text
        final = events.get_final_message()
    return {
        "events": names,
        "text": text,
        "final_text": "".join(b.text for b in final.content if b.type == "text"),
        "stop_reason": final.stop_reason,
        "output_tokens": final.usage.output_tokens,
        "model": final.model,
    }


WEATHER = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}


def tool_round_trip(client, model):
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.messages.create(model=model, max_tokens=256, messages=ask, tools=[WEATHER])
    call = next(b for b in first.content if b.type == "tool_use")
    answer = ask + [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                      "content": "sunny, 22 degrees"}]},
    ]
    second = client.messages.create(model=model, max_tokens=256, messages=answer, tools=[WEATHER])
    return {
        "stop_reason": first.stop_reason,
        "tool": call.name,
        "input": call.input,
        "id": call.id,
        "answer_stop_reason": second.stop_reason,
        "answer": "".join(b.text for b in second.content if b.type == "text"),
    }


def thinking_round_trip(client, model):
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    thinking = {"type": "enabled", "budget_tokens": 1024}
    first = client.messages.create(model=model, max_tokens=2048, messages=ask, tools=[WEATHER],
                                   thinking=thinking)
    blocks = [b.model_dump(exclude_none=True) for b in first.content]
    call = next(b for b in first.content if b.type == "tool_use")
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                           "content": "sunny"}]}
    second = client.messages.create(model=model, max_tokens=2048, tools=[WEATHER], thinking=thinking,
                                    messages=ask + [{"role": "assistant", "content": blocks}, result])
    edited = [dict(b, thinking="something else") if b["type"] == "thinking" else b for b in blocks]
    refused = error_of(lambda: client.messages.create(
        model=model, max_tokens=2048, tools=[WEATHER], thinking=thinking,
        messages=ask + [{"role": "assistant", "content": edited}, result]))
    return {
        "first": [b.type for b in first.content],
        "signed": bool(getattr(first.content[0], "signature", "")),
        "second": [b.type for b in second.content],
        "edited": refused,
    }


def cache_write_then_read(client, model):
    # A system prompt above the model's minimum cacheable length (1,024 tokens), marked.
    system = [{"type": "text", "text": "You are a careful assistant. " * 200,
               "cache_control": {"type": "ephemeral"}}]
    usages = []
    for _ in range(2):
        message = client.messages.create(model=model, max_tokens=32, system=system, messages=USER)
        u = message.usage
        usages.append({"input": u.input_tokens, "written": u.cache_creation_input_tokens,
                       "read": u.cache_read_input_tokens})
    return usages


def error_of(call):
    try:
        call()
    except anthropic.APIStatusError as error:
        body = error.body if isinstance(error.body, dict) else {}
        return {
            "raised": type(error).__name__,
            "status": error.status_code,
            "type": (body.get("error") or {}).get("type"),
            "retry_after": error.response.headers.get("retry-after"),
            "requests_reset": error.response.headers.get("anthropic-ratelimit-requests-reset"),
            "requests_limit": error.response.headers.get("anthropic-ratelimit-requests-limit"),
        }
    return {"raised": None}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--consumer-key", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--limited-model", required=True)
    parser.add_argument("--fallback-model", required=True)
    args = parser.parse_args()
    client = anthropic.Anthropic(base_url=args.base_url, api_key=args.api_key, max_retries=0)
    consumer = anthropic.Anthropic(base_url=args.base_url, api_key=args.consumer_key, max_retries=0)

    summary = {
        "create": create(client, args.model),
        "stream": stream(client, args.model),
        "count_tokens": client.messages.count_tokens(model=args.model, messages=USER).input_tokens,
        "tools": tool_round_trip(client, args.model),
        "cache": cache_write_then_read(client, args.model),
        "thinking": thinking_round_trip(client, args.model),
        "unknown_model": error_of(lambda: client.messages.create(
            model="no-such-model", max_tokens=8, messages=USER)),
        "bad_request": error_of(lambda: client.messages.create(
            model=args.model, max_tokens=8, messages=[{"role": "system", "content": "x"}])),
    }
    # The limited group admits one request a minute: the second is refused.
    create(client, args.limited_model)
    summary["rate_limited"] = error_of(lambda: client.messages.create(
        model=args.limited_model, max_tokens=8, messages=USER))
    # The fallback group's primary admits one: the second goes to its fallback.
    summary["fallback"] = [create(client, args.fallback_model)["deployment"] for _ in range(2)]
    # The consumer key may make one request a minute.
    create(consumer, args.model)
    summary["consumer_limited"] = error_of(lambda: consumer.messages.create(
        model=args.model, max_tokens=8, messages=USER))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
