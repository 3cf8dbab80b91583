"""Random-weight models for `npm run bench:gpu`: a HF Llama checkpoint of a given shape, and a GGUF's weight bytes.

Usage: python bench_model.py checkpoint --out DIR --shape llama3-8b|small [--device cuda|cpu]
       python bench_model.py weights FILE.gguf [--llama-cpp DIR]

checkpoint writes DIR (config.json, model.safetensors, the tokenizer) with transformers' random initialisation
(normal, std 0.02, a fixed seed); nothing is downloaded. Shapes:
    llama3-8b   Llama-3-8B's: 4096 wide, 32 layers, 32 heads with 8 KV heads, MLP 14336, vocabulary 128256,
                RoPE theta 500000; bfloat16, initialised on --device (default: cuda when present)
    small       256 wide, 4 layers, 4 heads with 2 KV heads, MLP 768, make_fixtures.py's vocabulary; float32
The tokenizer is make_fixtures.py's (SentencePiece, 2048 pieces, ChatML template), grown to the shape's vocabulary
with pieces "▁w<id>" of the lowest merge priority: a random model samples every id alike, and each must print as
text (padding ids would print nothing, so streamed answers would show no tokens). Events on stdout:
    {"event": "artifact", "kind": "checkpoint", "path": str, "parameters": int, "bytes": int, "dtype": str}
    {"event": "done", "seconds": float}

weights reads FILE.gguf with the gguf-py of the bundled llama.cpp source and prints
    {"event": "weights", "bytes": int, "bytes_per_token": int, "tensors": int, "types": {type: count}}
where bytes_per_token counts every tensor a decoded token reads: all but the token embedding, of which a token
reads one row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from engine_protocol import emit, isolate_stdout, log, watch_parent

SEED = 20240611
SHAPES = {
    "llama3-8b": dict(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        max_position_embeddings=8192,
        rope_theta=500000.0,
        dtype="bfloat16",
    ),
    "small": dict(
        hidden_size=256,
        intermediate_size=768,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=2048,
        max_position_embeddings=2048,
        rope_theta=10000.0,
        dtype="float32",
    ),
}


def _log(msg: str) -> None:
    log("bench_model", msg)


def write_checkpoint(out: Path, shape: str, device: str | None) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from make_fixtures import load_conversations

    started = time.monotonic()
    spec = dict(SHAPES[shape])
    dtype = getattr(torch, spec.pop("dtype"))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    out.mkdir(parents=True, exist_ok=True)
    write_tokenizer(out, load_conversations(), spec["vocab_size"])
    _log(f"tokenizer: {spec['vocab_size']} pieces ({time.monotonic() - started:.1f}s)")
    config = LlamaConfig(
        **spec,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    torch.manual_seed(SEED)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.config.dtype = dtype
    parameters = sum(p.numel() for p in model.parameters())
    _log(f"{shape}: {parameters / 1e9:.3f}B parameters, {dtype}, initialised on {device} "
         f"({time.monotonic() - started:.1f}s)")
    model.save_pretrained(str(out), safe_serialization=True)
    weights = sum(p.stat().st_size for p in out.glob("*.safetensors"))
    emit({
        "event": "artifact",
        "kind": "checkpoint",
        "path": str(out),
        "parameters": parameters,
        "bytes": weights,
        "dtype": str(dtype).removeprefix("torch."),
    })
    emit({"event": "done", "seconds": round(time.monotonic() - started, 1)})


def write_tokenizer(out: Path, conversations, vocab_size: int) -> None:
    """make_fixtures.py's tokenizer files, its SentencePiece model grown to `vocab_size` pieces."""
    import tempfile

    from sentencepiece import sentencepiece_model_pb2
    from transformers import AutoTokenizer

    from make_fixtures import tokenizer_config, train_tokenizer

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(train_tokenizer(conversations))
    lowest = min(piece.score for piece in proto.pieces)
    for i in range(len(proto.pieces), vocab_size):
        piece = proto.pieces.add()
        piece.piece = f"\u2581w{i}"
        piece.score = lowest - 1 - i
        piece.type = sentencepiece_model_pb2.ModelProto.SentencePiece.NORMAL
    (out / "tokenizer.model").write_bytes(proto.SerializeToString())
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2) + "\n", encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    if len(tokenizer) != vocab_size:
        raise SystemExit(f"the tokenizer holds {len(tokenizer)} tokens, not {vocab_size}")
    # tokenizer.json spares later loads the slow SentencePiece conversion (as make_fixtures.py keeps it).
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        (out / "tokenizer.json").write_bytes((Path(tmp) / "tokenizer.json").read_bytes())


def weight_bytes(path: Path, llama_cpp: Path) -> None:
    sys.path.insert(0, str(llama_cpp / "gguf-py"))
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    total = 0
    per_token = 0
    types: dict[str, int] = {}
    for tensor in reader.tensors:
        size = int(tensor.n_bytes)
        total += size
        kind = tensor.tensor_type.name
        types[kind] = types.get(kind, 0) + 1
        if tensor.name == "token_embd.weight":
            rows = int(tensor.shape[-1]) if len(tensor.shape) > 1 else 1
            per_token += size // max(rows, 1)
        else:
            per_token += size
    emit({"event": "weights", "bytes": total, "bytes_per_token": per_token, "tensors": len(reader.tensors),
          "types": types})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    checkpoint = commands.add_parser("checkpoint", help="write a random-weight HF checkpoint")
    checkpoint.add_argument("--out", required=True, type=Path)
    checkpoint.add_argument("--shape", required=True, choices=sorted(SHAPES))
    checkpoint.add_argument("--device", choices=("cuda", "cpu"), help="where to initialise (default: cuda if present)")
    weights = commands.add_parser("weights", help="bytes of a GGUF's weights, and those a decoded token reads")
    weights.add_argument("gguf", type=Path)
    weights.add_argument("--llama-cpp", type=Path, default=Path(sys.prefix) / "llama.cpp",
                         help="extracted llama.cpp source (default: <venv>/llama.cpp)")
    args = parser.parse_args()

    isolate_stdout()
    watch_parent()
    if args.command == "checkpoint":
        write_checkpoint(args.out.resolve(), args.shape, args.device)
    else:
        if not args.gguf.is_file():
            raise SystemExit(f"{args.gguf} is not a file")
        weight_bytes(args.gguf.resolve(), args.llama_cpp.resolve())


if __name__ == "__main__":
    main()
