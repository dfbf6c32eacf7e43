"""The official `openai` Python package against the chat-completions features beyond text.

Run by tests/gateway/openai_features.rs against a real gateway in front of the sandbox. Exercises:
`beta.chat.completions.parse` with a Pydantic model on a model with Bedrock's structured output
and on one without (a forced tool), `json_object`, a structured stream, a reasoning round trip
through a tool call (`reasoning_content` and signed `thinking_blocks` back, sent back unmodified;
an edited block refused), reasoning in stream deltas, a prompt-cache write then read
(`cached_tokens`), default-valued parameters, `service_tier`, `metadata`/`user`, `top_k`, and
the 400s of options no deployment can map. Prints one JSON summary on stdout for the Rust test
to assert. Without the `openai` or `pydantic` packages it exits non-zero (the test fails, it
does not skip).
"""

import argparse
import json
import sys

try:
    import openai
    import pydantic
except ImportError:
    print("the `openai` package is required: pip install openai", file=sys.stderr)
    sys.exit(3)

USER = [{"role": "user", "content": "Tell me about a city."}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


class Pet(pydantic.BaseModel):
    name: str
    legs: int


class City(pydantic.BaseModel):
    name: str
    population: int
    tags: list[str]
    pet: Pet | None


def parse(client, model):
    raw = client.beta.chat.completions.with_raw_response.parse(
        model=model, messages=USER, response_format=City, max_tokens=512
    )
    completion = raw.parse()
    message = completion.choices[0].message
    return {
        "parsed": message.parsed.model_dump() if message.parsed else None,
        "finish_reason": completion.choices[0].finish_reason,
        "tool_calls": message.tool_calls,
        "method": raw.headers.get("x-resilient-llm-structured-output"),
    }


def json_object(client, model):
    reply = client.chat.completions.create(
        model=model,
        messages=USER,
        response_format={"type": "json_object"},
        max_tokens=256,
    )
    return {"content": json.loads(reply.choices[0].message.content)}


def structured_stream(client, model):
    chunks = client.chat.completions.create(
        model=model,
        messages=USER,
        max_tokens=512,
        stream=True,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "City", "schema": City.model_json_schema()},
        },
    )
    text, finish, tool_calls = "", None, 0
    for chunk in chunks:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            tool_calls += len(choice.delta.tool_calls or [])
            finish = choice.finish_reason or finish
    return {"parsed": City.model_validate_json(text).model_dump(), "finish_reason": finish,
            "tool_calls": tool_calls}


def reasoning_round_trip(client, model):
    first = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER], reasoning_effort="low", max_tokens=2048,
    )
    message = first.choices[0].message
    blocks = message.model_extra.get("thinking_blocks") or []
    assistant = {
        "role": "assistant",
        "content": message.content,
        "tool_calls": [c.model_dump() for c in message.tool_calls or []],
        "thinking_blocks": blocks,
    }
    result = {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"}
    history = [{"role": "user", "content": "Weather in Paris?"}]
    second = client.chat.completions.create(
        model=model, messages=history + [assistant, result], tools=[WEATHER],
        reasoning_effort="low", max_tokens=2048,
    )
    edited = dict(assistant, thinking_blocks=[dict(b, thinking="edited") for b in blocks])
    try:
        client.chat.completions.create(
            model=model, messages=history + [edited, result], tools=[WEATHER],
            reasoning_effort="low", max_tokens=2048,
        )
        refused = None
    except openai.BadRequestError as error:
        refused = error.message
    return {
        "first_finish": first.choices[0].finish_reason,
        "reasoning_content": message.model_extra.get("reasoning_content"),
        "thinking_blocks": blocks,
        "answer": second.choices[0].message.content,
        "answer_reasoning": second.choices[0].message.model_extra.get("reasoning_content"),
        "edited_refused": refused,
    }


def reasoning_stream(client, model):
    chunks = client.chat.completions.create(
        model=model, messages=USER, reasoning_effort="medium", max_tokens=4096, stream=True,
    )
    reasoning, text, signatures = "", "", 0
    for chunk in chunks:
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            reasoning += extra.get("reasoning_content") or ""
            signatures += sum(1 for b in extra.get("thinking_blocks") or [] if b.get("signature"))
            text += choice.delta.content or ""
    return {"reasoning": reasoning, "text": text, "signatures": signatures}


def cache_write_then_read(client, model):
    # A system prompt above the model's minimum cacheable length (1,024 tokens), marked the
    # way LiteLLM's clients mark it.
    system = {"role": "system", "content": [
        {"type": "text", "text": "You are a careful assistant. " * 200,
         "cache_control": {"type": "ephemeral"}}]}
    usages = []
    for _ in range(2):
        reply = client.chat.completions.create(model=model, max_tokens=32,
                                               messages=[system] + USER)
        u = reply.usage
        extra = u.model_extra or {}
        usages.append({
            "prompt": u.prompt_tokens,
            "cached": u.prompt_tokens_details.cached_tokens if u.prompt_tokens_details else None,
            "written": extra.get("cache_creation_input_tokens"),
            "read": extra.get("cache_read_input_tokens"),
        })
    return usages


def cache_too_short(client, model):
    # Marked, but far below any model's minimum cacheable length: nothing is ever cached.
    system = {"role": "system", "content": [
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]}
    for _ in range(2):
        client.chat.completions.create(model=model, max_tokens=16, messages=[system] + USER)


def defaults(client, model):
    reply = client.chat.completions.create(
        model=model, messages=USER, max_tokens=200, logprobs=False, store=False, n=1,
        presence_penalty=0, frequency_penalty=0, service_tier="auto", parallel_tool_calls=True,
        modalities=["text"], reasoning_effort="none",
    )
    return {"finish_reason": reply.choices[0].finish_reason}


def tagged(client, model, **options):
    reply = client.chat.completions.create(model=model, messages=USER, max_tokens=32, **options)
    return {"service_tier": reply.service_tier,
            "deployment_model": reply.model}


AUDIO = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
FILE = {"type": "file", "file": {"file_data": "data:application/pdf;base64,AAAA",
                                 "filename": "a.pdf"}}
PASSED = dict(n=2, logprobs=True, top_logprobs=2, seed=5, logit_bias={"50256": -100},
              presence_penalty=0.5, max_tokens=64,
              extra_body={"top_k": 3, "chat_template_kwargs": {"enable_thinking": False}})


def passthrough(client, model):
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": [
            {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}, AUDIO, FILE]}],
        **PASSED)
    reply = raw.parse()
    usage = reply.usage
    return {
        "choices": [c.index for c in reply.choices],
        "first_token": reply.choices[0].logprobs.content[0].token,
        "top_logprobs": len(reply.choices[0].logprobs.content[0].top_logprobs),
        "system_fingerprint": reply.system_fingerprint,
        "cached_tokens": usage.prompt_tokens_details.cached_tokens,
        "reasoning_tokens": usage.completion_tokens_details.reasoning_tokens,
    }


def passthrough_stream(client, model):
    chunks = client.chat.completions.create(
        model=model, messages=USER, stream=True, stream_options={"include_usage": True},
        **PASSED)
    indexes, fingerprints, logprobs, details = set(), set(), 0, None
    for chunk in chunks:
        fingerprints.add(chunk.system_fingerprint)
        for choice in chunk.choices:
            indexes.add(choice.index)
            logprobs += len(choice.logprobs.content) if choice.logprobs else 0
        if chunk.usage is not None:
            details = chunk.usage.completion_tokens_details.reasoning_tokens
    return {"indexes": sorted(indexes), "fingerprints": sorted(f or "" for f in fingerprints),
            "logprobs": logprobs, "reasoning_tokens": details}


def error_of(call):
    try:
        call()
    except openai.APIStatusError as error:
        body = error.body if isinstance(error.body, dict) else {}
        return {"raised": type(error).__name__, "status": error.status_code,
                "param": body.get("param"), "message": body.get("message")}
    return {"raised": None}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0,
                           timeout=60)
    create = client.chat.completions.create
    summary = {
        "parse_native": parse(client, "sonnet"),
        "parse_tool": parse(client, "nova"),
        "json_object": json_object(client, "sonnet"),
        "structured_stream": structured_stream(client, "nova"),
        "reasoning": reasoning_round_trip(client, "sonnet-45"),
        "reasoning_stream": reasoning_stream(client, "sonnet"),
        "cache": cache_write_then_read(client, "sonnet"),
        "cache_too_short": cache_too_short(client, "sonnet-45"),
        "defaults": defaults(client, "sonnet"),
        "flex": tagged(client, "nova-pro", service_tier="flex"),
        # A shuffled two-deployment group: eight calls, every one on the deployment that can.
        "priority_elsewhere": [tagged(client, "mixed", service_tier="priority")
                               for _ in range(8)],
        "metadata": tagged(client, "nova", metadata={"team": "search", "run": "a-1"}, user="u-7"),
        # An unknown field (vLLM's) beside top_k: ignored by Bedrock deployments, not refused.
        "top_k": tagged(client, "nova", extra_body={
            "top_k": 5, "chat_template_kwargs": {"enable_thinking": False}}),
        "top_k_claude": tagged(client, "sonnet", extra_body={"top_k": 5}),
        "priority_refused": error_of(lambda: create(model="sonnet", messages=USER,
                                                    service_tier="priority")),
        "logprobs_refused": error_of(lambda: create(model="sonnet", messages=USER,
                                                    logprobs=True)),
        "top_k_refused": error_of(lambda: create(model="opus-47", messages=USER,
                                                 extra_body={"top_k": 5})),
        "metadata_refused": error_of(lambda: create(model="nova", messages=USER,
                                                    metadata={"team": "a;b"})),
        "max_tokens_refused": error_of(lambda: create(model="nova", messages=USER,
                                                      max_tokens=20000)),
        "audio_refused": error_of(lambda: create(model="sonnet", messages=[
            {"role": "user", "content": [{"type": "text", "text": "hi"}, AUDIO]}])),
        "passthrough": passthrough(client, "compat"),
        "passthrough_stream": passthrough_stream(client, "compat"),
        "logprobs_elsewhere": [tagged(client, "mixed-compat", logprobs=True)["deployment_model"]
                               for _ in range(8)],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
