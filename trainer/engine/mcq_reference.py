"""Reference multiple-choice scoring with transformers, tokenizing the way lm-evaluation-harness does.

stdin:  {"model_dir": str, "format": "plain" | "chat", "reuse_prompt": bool (default true),
         "context_size": int (default: the model's max_position_embeddings),
         "items": [{"prompt": str | [{"role", "content"}], "continuations": [str]}]}
stdout: {"items": [{"logprobs": [float]}], "seconds": float, "questions_per_second": float}

plain: the prompt's trailing whitespace moves to the front of each continuation; the context is encoded
alone (BOS first when the tokenizer adds one) and a continuation's tokens are the tail of the encoded
context + continuation after the context's length. chat: the prompt is the user's message through the
tokenizer's chat template with the generation prompt (or, given as messages, the conversation), and a continuation is encoded alone after it.
A context too long for context_size keeps its last tokens, leaving room for the item's longest continuation.
With reuse_prompt the context is run once per item and its KV cache reused for every continuation;
without, every continuation re-runs the whole sequence (the benchmark's baseline). Weights load in
float32 and log-softmax runs in float64.
"""

from __future__ import annotations

import copy
import json
import sys
import time


def main() -> None:
    request = json.load(sys.stdin)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(int(request.get("threads", 1)))
    tokenizer = AutoTokenizer.from_pretrained(request["model_dir"])
    model = AutoModelForCausalLM.from_pretrained(request["model_dir"], dtype=torch.float32)
    model.eval()
    chat = request.get("format", "plain") == "chat"
    reuse = bool(request.get("reuse_prompt", True))
    bos = [tokenizer.bos_token_id] if getattr(tokenizer, "add_bos_token", False) and tokenizer.bos_token_id is not None else []

    def encode(text: str) -> list[int]:
        return bos + tokenizer.encode(text, add_special_tokens=False)

    def split(prompt, continuation: str) -> tuple[list[int], list[int]]:
        if chat:
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
            context = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True
            )
            if not isinstance(context, list):
                context = context["input_ids"]
            return list(context), tokenizer.encode(continuation, add_special_tokens=False)
        trimmed = prompt.rstrip()
        moved = prompt[len(trimmed):]
        context = encode(trimmed)
        whole = encode(trimmed + moved + continuation)
        return context, whole[len(context):]

    def continuation_logprob(logits: torch.Tensor, tokens: list[int]) -> float:
        logprobs = torch.log_softmax(logits.double(), dim=-1)
        return float(sum(logprobs[i, token] for i, token in enumerate(tokens)))

    context_size = int(request.get("context_size") or model.config.max_position_embeddings)
    results = []
    started = time.monotonic()
    with torch.no_grad():
        for item in request["items"]:
            values = []
            cached = None
            splits = [split(item["prompt"], continuation) for continuation in item["continuations"]]
            longest = max(len(tokens) for _, tokens in splits)
            for context, tokens in splits:
                if len(context) + longest > context_size:
                    context = context[-(context_size - longest):]
                if reuse:
                    if cached is None or cached[0] != context:
                        out = model(torch.tensor([context[:-1]]), use_cache=True) if len(context) > 1 else None
                        cached = (context, out.past_key_values if out is not None else None)
                    past = cached[1]
                    out = model(
                        torch.tensor([[context[-1], *tokens[:-1]]]),
                        past_key_values=copy.deepcopy(past) if past is not None else None,
                        use_cache=True,
                    )
                    values.append(continuation_logprob(out.logits[0], tokens))
                else:
                    ids = context + tokens
                    out = model(torch.tensor([ids[:-1]]))
                    values.append(continuation_logprob(out.logits[0, len(context) - 1 :], tokens))
            results.append({"logprobs": values})
    seconds = time.monotonic() - started
    print(json.dumps({
        "items": results,
        "seconds": round(seconds, 3),
        "questions_per_second": round(len(results) / seconds, 3) if seconds > 0 else None,
    }))


if __name__ == "__main__":
    main()
