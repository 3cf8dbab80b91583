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
import os
import sys
import time
from pathlib import Path
from typing import Any

from dpo import (
    LoraSettings,
    _check_message,
    _positive,
    make_callback,
    present_target_modules,
    save_adapter,
    save_merged,
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

        lora = req("lora", "dict", nullable=True)
        self.lora = (
            None
            if lora is None
            else LoraSettings(
                r=require_field(lora, "r", "int"),
                alpha=require_field(lora, "alpha", "int"),
                dropout=require_field(lora, "dropout", "float"),
                target_modules=list(require_field(lora, "target_modules", "list")),
            )
        )
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

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

    import torch
    import transformers
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    if s.threads:
        torch.set_num_threads(s.threads)
    cuda = torch.cuda.is_available()
    use_cpu = (not cuda) if s.use_cpu is None else s.use_cpu
    bf16 = (not use_cpu and cuda and torch.cuda.is_bf16_supported()) if s.bf16 is None else s.bf16
    transformers.set_seed(s.seed, deterministic=s.full_determinism)
    s.output_dir.mkdir(parents=True, exist_ok=True)

    tokenizer = AutoTokenizer.from_pretrained(str(s.model_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise SystemExit(f"model_dir: {s.model_dir} has no chat template; the conversational format needs one")
    # sdpa: transformers builds each packed example's own causal mask from the restarting positions.
    model = AutoModelForCausalLM.from_pretrained(
        str(s.model_dir), dtype=torch.bfloat16 if bf16 else torch.float32, attn_implementation="sdpa"
    )

    args = SFTConfig(**training_arguments(s, use_cpu, bf16), packing=s.packing, completion_only_loss=True)

    peft_config = None
    if s.lora is not None:
        from peft import LoraConfig

        targets = present_target_modules(model, s.lora.target_modules)
        if not targets:
            raise SystemExit(f"config: none of lora.target_modules {s.lora.target_modules} exists in the model")
        peft_config = LoraConfig(
            r=s.lora.r,
            lora_alpha=s.lora.alpha,
            lora_dropout=s.lora.dropout,
            target_modules=targets,
            task_type="CAUSAL_LM",
        )

    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[make_callback(emit)],
    )
    sequences = len(trainer.train_dataset)
    emit({
        "event": "started",
        "pairs": len(rows),
        "pairs_heldout": heldout,
        "sequences": sequences,
        "packing": s.packing,
        "steps_planned": steps_planned(s, sequences, args.world_size),
        "lora": s.lora is not None,
        "device": str(args.device),
    })
    _log(f"{len(rows)} corrections in {sequences} sequences (packing={s.packing}), lora={s.lora is not None}")
    result = trainer.train()
    model = trainer.model
    if s.lora is not None:
        adapter = save_adapter(model, s)
        emit({"event": "artifact", "kind": "adapter", "path": str(adapter)})
        model = model.merge_and_unload()
    merged = save_merged(model, s)
    emit({"event": "artifact", "kind": "checkpoint", "path": str(merged)})
    emit({
        "event": "done",
        "train_loss": result.training_loss,
        "steps": trainer.state.global_step,
        "seconds": round(time.monotonic() - started, 1),
    })


if __name__ == "__main__":
    main()
