"""The official `openai` Python package against `POST /v1/embeddings`.

Run by tests/gateway/openai_features.rs. Exercises Titan (one text per call) and Cohere (a
batch) on the sandbox's Bedrock, an OpenAI-compatible upstream, `dimensions`, floats and base64
(the client's default, which it decodes itself), token-id inputs, a group whose RPM the inputs
exceed, `GET /v1/models/{id}`. Prints one JSON summary on stdout.
"""

import argparse
import json
import sys

try:
    import openai
    from gateway_openai_features import error_of
except ImportError:
    print("the `openai` package is required: pip install openai", file=sys.stderr)
    sys.exit(3)


def embed(client, model, inputs, **options):
    raw = client.embeddings.with_raw_response.create(model=model, input=inputs, **options)
    reply = raw.parse()
    return {
        "model": reply.model,
        "indexes": [d.index for d in reply.data],
        "lengths": [len(d.embedding) for d in reply.data],
        "first": reply.data[0].embedding[:4],
        "norm": sum(x * x for x in reply.data[0].embedding),
        "prompt_tokens": reply.usage.prompt_tokens,
        "deployment": raw.headers.get("x-resilient-llm-deployment"),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0,
                           timeout=60)
    texts = ["the first text", "a second one", "and a third"]
    summary = {
        "titan_float": embed(client, "titan", texts, dimensions=256, encoding_format="float"),
        "titan_base64": embed(client, "titan", texts, dimensions=256),
        "cohere": embed(client, "cohere", [f"text {i}" for i in range(100)]),
        "compat_tokens": embed(client, "compat", [[1, 2, 3], [4, 5]], dimensions=8),
        "tokens_refused": error_of(lambda: client.embeddings.create(model="titan", input=[[1, 2]])),
        "limited": error_of(lambda: client.embeddings.create(model="titan-limited", input=texts)),
        "chat_model_refused": error_of(lambda: client.embeddings.create(model="nova", input="x")),
        "model": client.models.retrieve("titan").id,
        "unknown_model": error_of(lambda: client.models.retrieve("no-such-model")),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
