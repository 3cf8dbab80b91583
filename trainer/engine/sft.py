"""SFT engine of medgate: TRL's SFTTrainer on clinician corrections (loss on the answer tokens only), then merge.

Usage: python sft.py CONFIG.json

CONFIG.json carries every field, resolved by the trainer (trainer/sftEngine.ts, from the round config's zod
schema, which documents the defaults); this script keeps no defaults of its own:
    model_dir                    HF checkpoint to start from
    train_file                   the round's dataset snapshot (JSON lines, as dpo.py reads it); the lines with
                                 source == "clinician-correction" and split == "train" are used: the conversation
                                 as the prompt, "chosen" (the corrected answer) as the completion
    output_dir                   merged checkpoint -> output_dir/merged, LoRA adapter -> output_dir/adapter
    learning_rate, epochs, max_steps, batch_size, gradient_accumulation_steps, max_length, warmup_ratio, seed,
    lr_scheduler_type, logging_steps, gradient_checkpointing, full_determinism, use_cpu, bf16, save_dtype,
    threads, lora                as in dpo.py
    packing                      bool: pack several examples into each max_length sequence (best-fit decreasing,
                                 each example's positions restarting, so attention stays within it)

The loss is on the completion's tokens only (TRL's completion_only_loss for prompt-completion data). Events on
stdout as dpo.py's: started, metrics (loss per logged step), summary, artifact (adapter, checkpoint), done.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from dpo import (
    _check_message,
    _positive,
    chat_tokenizer,
    lora_config,
    make_callback,
    parse_lora,
    prepare_run,
    save_outputs,
    steps_planned,
    training_arguments,
)
from engine_protocol import emit, isolate_stdout, load_config, log, require_field, watch_parent


def _log(msg: str) -> None:
    log("sft", msg)


class Settings:
    def __init__(self, cfg: dict[str, Any]):
        def req(name: str, kind: str, nullable: bool = False) -> Any:
            return require_field(cfg, name, kind, nullable)

        self.lora = parse_lora(cfg)
        self.model_dir = Path(req("model_dir", "str")).resolve()
        self.train_file = Path(req("train_file", "str")).resolve()
        self.output_dir = Path(req("output_dir", "str")).resolve()
        self.learning_rate = req("learning_rate", "float")
        self.epochs = req("epochs", "float")
        max_steps = req("max_steps", "int", nullable=True)
        self.max_steps = -1 if max_steps is None or max_steps <= 0 else max_steps
        self.batch_size = req("batch_size", "int")
        self.gradient_accumulation_steps = req("gradient_accumulation_steps", "int")
        self.max_length = req("max_length", "int")
        self.warmup_ratio = req("warmup_ratio", "float")
        self.seed = req("seed", "int")
        self.lr_scheduler_type = req("lr_scheduler_type", "str")
        self.logging_steps = req("logging_steps", "int")
        self.gradient_checkpointing = req("gradient_checkpointing", "bool")
        self.full_determinism = req("full_determinism", "bool")
        self.use_cpu = req("use_cpu", "bool", nullable=True)
        self.bf16 = req("bf16", "bool", nullable=True)
        self.save_dtype = req("save_dtype", "str")
        self.threads = req("threads", "int", nullable=True)
        self.packing = req("packing", "bool")
        for name in ("learning_rate", "batch_size", "gradient_accumulation_steps", "max_length", "logging_steps"):
            _positive(name, getattr(self, name))
        _positive("threads", self.threads)
        if self.max_steps <= 0:
            _positive("epochs", self.epochs)
        if not (self.model_dir / "config.json").is_file():
            raise SystemExit(f"config: model_dir {self.model_dir} is not a HF checkpoint directory (no config.json)")
        if not self.train_file.is_file():
            raise SystemExit(f"config: train_file {self.train_file} does not exist")


def read_corrections(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The training corrections in TRL's conversational prompt-completion format, and the held-out count."""
    rows: list[dict[str, Any]] = []
    heldout = 0
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise SystemExit(f"{where}: not valid JSON: {e}") from None
        if item.get("source") != "clinician-correction":
            continue
        if item.get("split", "train") != "train":
            heldout += 1
            continue
        prompt = [_check_message(m, where) for m in item.get("conversation") or []]
        if not prompt or prompt[-1]["role"] != "user":
            raise SystemExit(f"{where}: the conversation must end with the user's message")
        if not isinstance(item.get("chosen"), str) or not item["chosen"]:
            raise SystemExit(f"{where}: 'chosen' must be a non-empty string")
        rows.append({"prompt": prompt, "completion": [{"role": "assistant", "content": item["chosen"]}]})
    return rows, heldout


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        raise SystemExit("usage: python sft.py CONFIG.json")
    isolate_stdout()
    watch_parent()
    started = time.monotonic()
    s = Settings(load_config(argv[0], required=("model_dir", "train_file", "output_dir")))
    rows, heldout = read_corrections(s.train_file)
    if not rows:
        raise SystemExit(f"train_file: {s.train_file} holds no training corrections; {heldout} held out")

    use_cpu, bf16 = prepare_run(s)

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    tokenizer = chat_tokenizer(s)
    # sdpa: transformers builds each packed example's own causal mask from the restarting positions.
    model = AutoModelForCausalLM.from_pretrained(
        str(s.model_dir), dtype=torch.bfloat16 if bf16 else torch.float32, attn_implementation="sdpa"
    )

    args = SFTConfig(**training_arguments(s, use_cpu, bf16), packing=s.packing, completion_only_loss=True)
    is_main = args.process_index == 0

    def on_event(event: dict[str, Any]) -> None:
        if is_main:
            emit(event)

    peft_config = lora_config(model, s)

    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[make_callback(on_event)],
    )
    sequences = len(trainer.train_dataset)
    on_event({
        "event": "started",
        "pairs": len(rows),
        "pairs_heldout": heldout,
        "sequences": sequences,
        "packing": s.packing,
        "steps_planned": steps_planned(s, sequences, args.world_size),
        "lora": s.lora is not None,
        "device": str(args.device),
    })
    if is_main:
        _log(f"{len(rows)} corrections in {sequences} sequences (packing={s.packing}), lora={s.lora is not None}")
    result = trainer.train()
    save_outputs(trainer, result, s, started)


if __name__ == "__main__":
    main()
