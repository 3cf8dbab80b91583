"""Reference log-likelihoods from a HF checkpoint, to check llama.cpp scoring against.

stdin:  {"model_dir": str, "items": [{"prompt_ids": [int], "continuation_ids": [int]}]}
stdout: {"items": [{"token_logprobs": [float], "sum": float}]}

token_logprobs[i] = log p(continuation_ids[i] | prompt_ids + continuation_ids[:i]). The ids are
used exactly as given: no BOS or other special token is added. Weights load in float32 and the
log-softmax runs in float64, so the reference carries no rounding of its own beyond the model's.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    request = json.load(sys.stdin)

    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(request["model_dir"], dtype=torch.float32)
    model.eval()

    results = []
    with torch.no_grad():
        for item in request["items"]:
            prompt, continuation = list(item["prompt_ids"]), list(item["continuation_ids"])
            if not prompt:
                raise SystemExit("prompt_ids must hold at least one id: the first token has no context to score")
            if not continuation:
                results.append({"token_logprobs": [], "sum": 0.0})
                continue
            ids = torch.tensor([prompt + continuation], dtype=torch.long)
            logits = model(input_ids=ids).logits[0].to(torch.float64)
            # Position p predicts token p + 1: the continuation's tokens are predicted from
            # positions len(prompt) - 1 .. len(ids) - 2.
            start = len(prompt) - 1
            logprobs = torch.log_softmax(logits[start : start + len(continuation)], dim=-1)
            picked = logprobs.gather(1, torch.tensor(continuation, dtype=torch.long).unsqueeze(1)).squeeze(1)
            values = [float(v) for v in picked.tolist()]
            results.append({"token_logprobs": values, "sum": float(sum(values))})

    json.dump({"items": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
