"""Writes the deterministic test models: a tiny HF Llama checkpoint, its f32 GGUF and a manifest.

Usage: python make_fixtures.py --out DIR [--llama-cpp DIR] [--steps N]

The same inputs give byte-identical files on the same machine: the tokenizer is trained single
threaded on a corpus shipped beside this script, the model is pre-trained briefly with a fixed seed,
one thread and deterministic kernels, and the GGUF comes from the converter of the llama.cpp
source bundled with node-llama-cpp. Prints one JSON line `{"event":"done",...}` on stdout; logs
go to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Bump when the files written change, so cached fixtures can tell they are stale.
GENERATOR = "medgate-fixtures/1"
HERE = Path(__file__).resolve().parent
CORPUS = HERE / "fixtures" / "medical_qa.jsonl"

SEED = 20240611
VOCAB_SIZE = 2048
BOS, EOS, IM_START, UNK = "<s>", "<|im_end|>", "<|im_start|>", "<unk>"
# ChatML exactly as SmolLM2/Qwen write it, without a BOS: node-llama-cpp recognises it as its
# built-in ChatML format (which emits no BOS), so HF and llama.cpp turn a chat into the same ids.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SYSTEM_PROMPTS = [
    "You are a careful medical assistant. Answer in plain English.",
    "You are a helpful assistant for patients.",
]
MODEL_CONFIG = dict(
    vocab_size=VOCAB_SIZE,
    hidden_size=64,
    intermediate_size=192,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=2,
)


def log(msg: str) -> None:
    print(f"[make_fixtures] {msg}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_conversations() -> list[list[dict[str, str]]]:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    conversations = []
    for i, row in enumerate(rows):
        messages = []
        # Every third conversation carries a system turn, so the model has seen that role too.
        if i % 3 == 0:
            messages.append({"role": "system", "content": SYSTEM_PROMPTS[(i // 3) % len(SYSTEM_PROMPTS)]})
        messages += [{"role": "user", "content": row["q"]}, {"role": "assistant", "content": row["a"]}]
        conversations.append(messages)
    return conversations


def render_chat(messages: list[dict[str, str]]) -> str:
    """Same text the Jinja template gives, used only to feed the tokenizer trainer."""
    text = ""
    for m in messages:
        text += f"{IM_START}{m['role']}\n{m['content']}{EOS}\n"
    return text


def train_tokenizer(conversations: list[list[dict[str, str]]]) -> bytes:
    import sentencepiece as spm

    lines: list[str] = []
    for messages in conversations:
        lines += [m["content"] for m in messages]
        lines.append(render_chat(messages))
    model = io.BytesIO()
    spm.set_random_generator_seed(SEED)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="bpe",
        vocab_size=VOCAB_SIZE,
        byte_fallback=True,
        character_coverage=1.0,
        num_threads=1,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        unk_piece=UNK,
        bos_piece=BOS,
        eos_piece=EOS,
        user_defined_symbols=[IM_START],
        split_digits=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        # No dummy prefix: llama.cpp prefixes a space after every special token when it is on,
        # HF only at the start of the text, and the two would tokenize chat turns differently.
        add_dummy_prefix=False,
        allow_whitespace_only_pieces=True,
        max_sentence_length=8192,
        minloglevel=2,
    )
    return model.getvalue()


def tokenizer_config() -> dict:
    added = {
        str(i): {"content": c, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
        for i, c in [(0, UNK), (1, BOS), (2, EOS), (3, IM_START)]
    }
    return {
        "tokenizer_class": "LlamaTokenizer",
        "add_bos_token": False,
        "add_eos_token": False,
        "add_prefix_space": False,
        "legacy": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": MODEL_CONFIG["max_position_embeddings"],
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": UNK,
        "pad_token": EOS,
        "added_tokens_decoder": added,
        "chat_template": CHAT_TEMPLATE,
    }


def write_tokenizer(hf_dir: Path, conversations) -> object:
    from transformers import AutoTokenizer

    (hf_dir / "tokenizer.model").write_bytes(train_tokenizer(conversations))
    cfg_path = hf_dir / "tokenizer_config.json"
    cfg_path.write_text(json.dumps(tokenizer_config(), indent=2) + "\n", encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(str(hf_dir))
    # tokenizer.json spares later loads the slow SentencePiece conversion; only that file is kept
    # from save_pretrained, whose tokenizer_config.json carries load-time noise.
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        (hf_dir / "tokenizer.json").write_bytes((Path(tmp) / "tokenizer.json").read_bytes())
    return tokenizer


def chat_ids(tokenizer, messages) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)
    return list(out["input_ids"])


def pretrain(model, tokenizer, conversations, steps: int) -> list[float]:
    import torch

    sequences = [chat_ids(tokenizer, m) for m in conversations]
    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.98), weight_decay=0.0)
    warmup, batch_size = max(1, steps // 20), 16
    losses = []
    model.train()
    for step in range(steps):
        lr_scale = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))
        for group in opt.param_groups:
            group["lr"] = 3e-3 * lr_scale
        picks = torch.randperm(len(sequences), generator=gen)[:batch_size].tolist()
        batch = [sequences[i] for i in picks]
        width = max(len(s) for s in batch)
        input_ids = torch.full((len(batch), width), MODEL_CONFIG["pad_token_id"], dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, seq in enumerate(batch):
            input_ids[row, : len(seq)] = torch.tensor(seq)
            labels[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(round(loss.item(), 4))
    model.eval()
    return losses


def convert_to_gguf(llama_cpp: Path, hf_dir: Path, outfile: Path) -> None:
    converter = llama_cpp / "convert_hf_to_gguf.py"
    if not converter.is_file():
        raise SystemExit(f"converter not found at {converter}; run `npm run setup`")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("NO_LOCAL_GGUF", None)  # the converter must use the gguf-py that ships beside it
    subprocess.run(
        [sys.executable, str(converter), str(hf_dir), "--outfile", str(outfile), "--outtype", "f32"],
        check=True,
        stdout=sys.stderr,
        env=env,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--llama-cpp", type=Path, default=Path(sys.prefix) / "llama.cpp",
                        help="extracted llama.cpp source (default: <venv>/llama.cpp)")
    parser.add_argument("--steps", type=int, default=300, help="pre-training steps (default: 300)")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be at least 1")

    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    started = time.monotonic()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)

    out: Path = args.out.resolve()
    hf_dir = out / "tiny-llama"
    gguf_path = out / "tiny-llama.gguf"
    # Start from nothing, so a file left by an older generator can neither linger nor enter the manifest.
    shutil.rmtree(hf_dir, ignore_errors=True)
    gguf_path.unlink(missing_ok=True)
    hf_dir.mkdir(parents=True)

    conversations = load_conversations()
    tokenizer = write_tokenizer(hf_dir, conversations)
    log(f"tokenizer: {len(tokenizer)} tokens ({time.monotonic() - started:.1f}s)")

    config = LlamaConfig(**MODEL_CONFIG)
    model = LlamaForCausalLM(config).to(torch.float32)
    losses = pretrain(model, tokenizer, conversations, args.steps)
    log(f"pre-trained {args.steps} steps: loss {losses[0]} -> {losses[-1]} ({time.monotonic() - started:.1f}s)")
    model.generation_config.do_sample = False
    model.save_pretrained(str(hf_dir), safe_serialization=True)

    convert_to_gguf(args.llama_cpp.resolve(), hf_dir, gguf_path)

    files = sorted(p for p in hf_dir.rglob("*") if p.is_file()) + [gguf_path]
    manifest = {
        "generator": GENERATOR,
        "hf_dir": hf_dir.name,
        "gguf": gguf_path.name,
        "files": {p.relative_to(out).as_posix(): {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in files},
        "config": json.loads((hf_dir / "config.json").read_text(encoding="utf-8")),
        "special_tokens": {"bos": 1, "eos": 2, "im_end": 2, "im_start": 3, "unk": 0},
        "chat_template": CHAT_TEMPLATE,
        "pretrain": {"seed": SEED, "steps": args.steps, "first_loss": losses[0], "last_loss": losses[-1]},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    log(f"done in {time.monotonic() - started:.1f}s")
    print(json.dumps({"event": "done", "manifest": str(out / "manifest.json")}), flush=True)


if __name__ == "__main__":
    main()
