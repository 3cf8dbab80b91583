"""DPO training engine of medgate: TRL's DPOTrainer (optionally with a peft LoRA adapter), then merge.

Usage: python dpo.py CONFIG.json
       accelerate launch --config_file ACCELERATE.yaml dpo.py CONFIG.json

CONFIG.json (a JSON object) carries every field, resolved by the trainer (trainer/dpoEngine.ts, from the
round config's zod schema, which documents the defaults); this script keeps no defaults of its own, and a
missing field is an error:
    model_dir                    HF checkpoint to start from; also the DPO reference model
    train_file                   JSON lines, one pair a line:
                                 {"conversation": [{"role", "content"}, ...], "chosen": str, "rejected": str,
                                  "split": "train" | "heldout", ...}; only split == "train" (or no split) is used,
                                 and the conversation's last message must be the user's
    output_dir                   merged checkpoint -> output_dir/merged, LoRA adapter -> output_dir/adapter,
                                 trainer scratch -> output_dir/run
    beta, learning_rate, epochs, batch_size, gradient_accumulation_steps, max_length, warmup_ratio, seed
    max_steps                    int, or null to train `epochs`
    loss_type                    a non-empty list of TRL loss types
    lr_scheduler_type, logging_steps, gradient_checkpointing, full_determinism
    use_cpu, bf16                bool, or null: decided by the hardware (CUDA present, bf16 supported)
    save_dtype                   "auto" (the dtype in model_dir's config) | "float32" | "bfloat16" | "float16"
    threads                      int (torch.set_num_threads), or null for torch's choice
    lora                         {"r", "alpha", "dropout", "target_modules"} (targets filtered to the modules
                                 the model has), or null for full fine-tuning

stdout is a JSON-lines protocol (see engine_protocol.emit); everything else goes to stderr. Events,
written by the main process only:
    {"event": "started", "pairs": N, "pairs_heldout": H, "pairs_used": U, "steps_planned": S, "lora": bool, ...}
    {"event": "metrics", "step": int, "epoch": float, "metrics": {"loss", "rewards/chosen", ...}}
    {"event": "summary", "step": int, "epoch": float, "metrics": {"train_runtime", "train_loss", ...}}
    {"event": "artifact", "kind": "adapter", "path": "<absolute output_dir/adapter>"}   (LoRA only)
    {"event": "artifact", "kind": "checkpoint", "path": "<absolute output_dir/merged>"}
    {"event": "done", "train_loss": float, "steps": int, "seconds": float, "save_seconds": float,
     "peak_memory_bytes": int, "peak_memory_of": "cuda" | "rss"}
                                 (peak memory: torch.cuda.max_memory_allocated on a GPU, else the process's
                                 peak resident set, read before the merge; save_seconds: the merge and saving)
A bad config, an unreadable or empty train set, or a training failure exits non-zero with the
reason on stderr.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine_protocol import emit, isolate_stdout, load_config, log, require_field, watch_parent

# Copied from model_dir into the merged checkpoint when present. Not tokenizer.save_pretrained():
# that drops tokenizer.model and add_bos_token, and the converter would then build another
# vocabulary (llama-hf path, BOS added). See smoke_dpo.py.
TOKENIZER_FILES = (
    "tokenizer.model",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
)
SAVE_DTYPES = ("float32", "bfloat16", "float16", "auto")
ROLES = ("system", "user", "assistant")


def _log(msg: str) -> None:
    log("dpo", msg)


@dataclass
class LoraSettings:
    r: int
    alpha: int
    dropout: float
    target_modules: list[str]


@dataclass
class Settings:
    model_dir: Path
    train_file: Path
    output_dir: Path
    beta: float
    learning_rate: float
    epochs: float
    max_steps: int
    batch_size: int
    gradient_accumulation_steps: int
    max_length: int
    seed: int
    loss_type: list[str]
    threads: int | None
    lora: LoraSettings | None
    warmup_ratio: float
    lr_scheduler_type: str
    logging_steps: int
    use_cpu: bool | None
    bf16: bool | None
    gradient_checkpointing: bool
    full_determinism: bool
    save_dtype: str


def _positive(name: str, value: float | int | None, allow_zero: bool = False) -> None:
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise SystemExit(f"config: field '{name}' must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def _strings(value: Any, name: str) -> list[str]:
    if not (isinstance(value, list) and value and all(isinstance(x, str) and x for x in value)):
        raise SystemExit(f"config: field '{name}' must be a non-empty list of strings")
    return list(value)


def parse_lora(cfg: dict[str, Any]) -> LoraSettings | None:
    """The config's `lora` field, checked; None for full fine-tuning."""
    lora = require_field(cfg, "lora", "dict", True)
    if lora is None:
        return None
    unknown = set(lora) - {"r", "alpha", "dropout", "target_modules"}
    if unknown:
        raise SystemExit(f"config: unknown field(s) in 'lora': {', '.join(sorted(unknown))}")
    settings = LoraSettings(
        r=require_field(lora, "r", "int"),
        alpha=require_field(lora, "alpha", "int"),
        dropout=require_field(lora, "dropout", "float"),
        target_modules=_strings(require_field(lora, "target_modules", "list"), "lora.target_modules"),
    )
    _positive("lora.r", settings.r)
    _positive("lora.alpha", settings.alpha)
    if not 0.0 <= settings.dropout < 1.0:
        raise SystemExit(f"config: field 'lora.dropout' must be in [0, 1), got {settings.dropout}")
    return settings


def parse_settings(cfg: dict[str, Any]) -> Settings:
    def req(name: str, kind: str, nullable: bool = False) -> Any:
        return require_field(cfg, name, kind, nullable)

    lora = parse_lora(cfg)
    max_steps = req("max_steps", "int", nullable=True)
    s = Settings(
        model_dir=Path(req("model_dir", "str")).resolve(),
        train_file=Path(req("train_file", "str")).resolve(),
        output_dir=Path(req("output_dir", "str")).resolve(),
        beta=req("beta", "float"),
        learning_rate=req("learning_rate", "float"),
        epochs=req("epochs", "float"),
        max_steps=-1 if max_steps is None else max_steps,
        batch_size=req("batch_size", "int"),
        gradient_accumulation_steps=req("gradient_accumulation_steps", "int"),
        max_length=req("max_length", "int"),
        seed=req("seed", "int"),
        loss_type=_strings(req("loss_type", "list"), "loss_type"),
        threads=req("threads", "int", nullable=True),
        lora=lora,
        warmup_ratio=req("warmup_ratio", "float"),
        lr_scheduler_type=req("lr_scheduler_type", "str"),
        logging_steps=req("logging_steps", "int"),
        use_cpu=req("use_cpu", "bool", nullable=True),
        bf16=req("bf16", "bool", nullable=True),
        gradient_checkpointing=req("gradient_checkpointing", "bool"),
        full_determinism=req("full_determinism", "bool"),
        save_dtype=req("save_dtype", "str"),
    )
    if s.save_dtype not in SAVE_DTYPES:
        raise SystemExit(f"config: field 'save_dtype' must be one of {', '.join(SAVE_DTYPES)}, got {s.save_dtype!r}")

    _positive("beta", s.beta)
    _positive("learning_rate", s.learning_rate)
    _positive("batch_size", s.batch_size)
    _positive("gradient_accumulation_steps", s.gradient_accumulation_steps)
    _positive("max_length", s.max_length)
    _positive("threads", s.threads)
    _positive("logging_steps", s.logging_steps)
    _positive("warmup_ratio", s.warmup_ratio, allow_zero=True)
    if s.warmup_ratio >= 1:
        raise SystemExit(f"config: field 'warmup_ratio' must be < 1, got {s.warmup_ratio}")
    if s.max_steps <= 0:
        s.max_steps = -1
        _positive("epochs", s.epochs)
    if not s.model_dir.is_dir() or not (s.model_dir / "config.json").is_file():
        raise SystemExit(f"config: model_dir {s.model_dir} is not a HF checkpoint directory (no config.json)")
    if not s.train_file.is_file():
        raise SystemExit(f"config: train_file {s.train_file} does not exist")
    return s


def _check_message(m: Any, where: str) -> dict[str, str]:
    if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
        raise SystemExit(f"{where}: every conversation message must be {{\"role\": str, \"content\": str}}")
    if m["role"] not in ROLES:
        raise SystemExit(f"{where}: unknown role {m['role']!r} (expected one of {', '.join(ROLES)})")
    return {"role": m["role"], "content": m["content"]}


def read_pairs(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Training rows in TRL's conversational preference format, and the number of heldout lines."""
    rows: list[dict[str, Any]] = []
    heldout = 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise SystemExit(f"train_file: cannot read {path}: {e}") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise SystemExit(f"{where}: not valid JSON: {e}") from None
        if not isinstance(item, dict):
            raise SystemExit(f"{where}: each line must be a JSON object")
        split = item.get("split", "train")
        if split != "train":
            if split == "heldout":
                heldout += 1
                continue
            raise SystemExit(f"{where}: unknown split {split!r} (expected 'train' or 'heldout')")
        conversation = item.get("conversation")
        if not isinstance(conversation, list) or not conversation:
            raise SystemExit(f"{where}: 'conversation' must be a non-empty list of messages")
        prompt = [_check_message(m, where) for m in conversation]
        if prompt[-1]["role"] != "user":
            raise SystemExit(f"{where}: the conversation's last message must be the user's, got {prompt[-1]['role']!r}")
        for key in ("chosen", "rejected"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise SystemExit(f"{where}: '{key}' must be a non-empty string")
        rows.append({
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": item["chosen"]}],
            "rejected": [{"role": "assistant", "content": item["rejected"]}],
        })
    return rows, heldout


def present_target_modules(model, wanted: list[str]) -> list[str]:
    """The wanted LoRA targets that name at least one Linear layer of the model."""
    import torch

    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    return [t for t in wanted if t in names]


def steps_planned(s: Settings, pairs: int, world_size: int) -> int:
    """What Trainer.set_initial_training_values will compute (per-process batches, accumulation)."""
    batches = math.ceil(math.ceil(pairs / s.batch_size) / max(world_size, 1))
    per_epoch = max(math.ceil(batches / s.gradient_accumulation_steps), 1)
    return s.max_steps if s.max_steps > 0 else math.ceil(s.epochs * per_epoch)


def original_dtype(model_dir: Path):
    import torch

    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    name = cfg.get("dtype") or cfg.get("torch_dtype") or "float32"
    dtype = getattr(torch, str(name), None)
    return dtype if isinstance(dtype, torch.dtype) else torch.float32


def save_adapter(model, s: Settings) -> Path:
    """The peft adapter (adapter_config.json, adapter_model.safetensors) into adapter.tmp, then renamed to adapter."""
    final = s.output_dir / "adapter"
    tmp = s.output_dir / "adapter.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def save_merged(model, s: Settings) -> Path:
    """save_pretrained into merged.tmp plus the base's tokenizer files, then rename to merged."""
    import torch

    final = s.output_dir / "merged"
    tmp = s.output_dir / "merged.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    dtype = original_dtype(s.model_dir) if s.save_dtype == "auto" else getattr(torch, s.save_dtype)
    model = model.to(dtype)
    model.config.use_cache = True  # gradient checkpointing turns it off on the config
    model.save_pretrained(str(tmp), safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (s.model_dir / name).is_file():
            shutil.copyfile(s.model_dir / name, tmp / name)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def training_arguments(s, use_cpu: bool, bf16: bool) -> dict[str, Any]:
    """The Trainer arguments dpo.py and sft.py share: schedule, logging, device, seeds; nothing saved mid-run."""
    return {
        "output_dir": str(s.output_dir / "run"),
        "num_train_epochs": s.epochs,
        "max_steps": s.max_steps,
        "per_device_train_batch_size": s.batch_size,
        "gradient_accumulation_steps": s.gradient_accumulation_steps,
        "learning_rate": s.learning_rate,
        "lr_scheduler_type": s.lr_scheduler_type,
        # transformers 5 dropped warmup_ratio: a float below 1 in warmup_steps is the ratio.
        "warmup_steps": s.warmup_ratio,
        "max_length": s.max_length,
        "logging_steps": s.logging_steps,
        "logging_strategy": "steps",
        "save_strategy": "no",
        "eval_strategy": "no",
        "report_to": [],
        "use_cpu": use_cpu,
        "bf16": bf16,
        "fp16": False,
        "activation_checkpointing": s.gradient_checkpointing,  # transformers 5 name of gradient_checkpointing
        "seed": s.seed,
        "data_seed": s.seed,
        "full_determinism": s.full_determinism,
        "dataloader_num_workers": 0,
    }


def prepare_run(s) -> tuple[bool, bool]:
    """Offline, torch threads, the seed and the output folder; returns (use_cpu, bf16) as the hardware decides."""
    # Everything is local: never let a missing file turn into a download attempt.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import torch
    import transformers

    if s.threads:
        torch.set_num_threads(s.threads)
    cuda = torch.cuda.is_available()
    use_cpu = (not cuda) if s.use_cpu is None else s.use_cpu
    bf16 = (not use_cpu and cuda and torch.cuda.is_bf16_supported()) if s.bf16 is None else s.bf16
    transformers.set_seed(s.seed, deterministic=s.full_determinism)
    s.output_dir.mkdir(parents=True, exist_ok=True)
    return use_cpu, bf16


def chat_tokenizer(s):
    """model_dir's tokenizer, with a pad token; the conversational datasets need its chat template."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(s.model_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise SystemExit(f"model_dir: {s.model_dir} has no chat template; the conversational format needs one")
    return tokenizer


def lora_config(model, s):
    """peft's LoraConfig for the settings' targets present in the model, or None for full fine-tuning."""
    if s.lora is None:
        return None
    from peft import LoraConfig

    targets = present_target_modules(model, s.lora.target_modules)
    if not targets:
        raise SystemExit(f"config: none of lora.target_modules {s.lora.target_modules} exists in the model")
    missing = [t for t in s.lora.target_modules if t not in targets]
    if missing:
        log(Path(sys.argv[0]).stem, f"LoRA targets not in the model, skipped: {', '.join(missing)}")
    return LoraConfig(
        r=s.lora.r,
        lora_alpha=s.lora.alpha,
        lora_dropout=s.lora.dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )


def peak_memory() -> dict[str, Any]:
    """The run's peak memory so far: CUDA's max_memory_allocated where training ran on a GPU, else peak RSS."""
    import resource

    import torch

    if torch.cuda.is_available() and torch.cuda.max_memory_allocated() > 0:
        return {"peak_memory_bytes": int(torch.cuda.max_memory_allocated()), "peak_memory_of": "cuda"}
    # ru_maxrss is in KiB on Linux.
    return {"peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "peak_memory_of": "rss"}


def save_outputs(trainer, result, s, started: float) -> None:
    """On the main process: the adapter (LoRA), the merged checkpoint, then the done event; every process waits."""
    trainer.accelerator.wait_for_everyone()
    if trainer.accelerator.is_main_process:
        peak = peak_memory()
        saving = time.monotonic()
        model = trainer.accelerator.unwrap_model(trainer.model)
        if s.lora is not None:
            # The adapter alone too: engines that load LoRA adapters at runtime (vLLM, SGLang) serve it.
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
            "save_seconds": round(time.monotonic() - saving, 1),
            **peak,
        })
    trainer.accelerator.wait_for_everyone()


def make_callback(on_event):
    from transformers import TrainerCallback

    class ProtocolCallback(TrainerCallback):
        """Forwards every Trainer log as a metrics event; the final train summary as a summary event."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            metrics = {
                k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
            kind = "summary" if "train_runtime" in logs else "metrics"
            on_event({"event": kind, "step": state.global_step, "epoch": state.epoch, "metrics": metrics})

    return ProtocolCallback()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        raise SystemExit("usage: python dpo.py CONFIG.json")
    isolate_stdout()
    watch_parent()
    started = time.monotonic()

    cfg = load_config(argv[0], required=("model_dir", "train_file", "output_dir"))
    s = parse_settings(cfg)
    rows, heldout = read_pairs(s.train_file)
    if not rows:
        raise SystemExit(f"train_file: {s.train_file} holds no training pairs (split == 'train'); {heldout} heldout")

    use_cpu, bf16 = prepare_run(s)

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(**training_arguments(s, use_cpu, bf16), beta=s.beta, loss_type=s.loss_type)
    is_main = args.process_index == 0

    def on_event(event: dict[str, Any]) -> None:
        if is_main:
            emit(event)

    tokenizer = chat_tokenizer(s)
    # With bf16 on (CUDA), the base weights load in bf16: an 8B model in float32 would need twice the
    # memory; peft keeps LoRA adapters in float32. Otherwise everything is float32.
    model = AutoModelForCausalLM.from_pretrained(str(s.model_dir), dtype=torch.bfloat16 if bf16 else torch.float32)

    peft_config = lora_config(model, s)

    dataset = Dataset.from_list(rows)
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[make_callback(on_event)],
    )
    used = len(trainer.train_dataset)
    if used == 0:
        raise SystemExit(f"every training pair's prompt fills max_length={s.max_length}; nothing left to train on")
    if used < len(rows):
        _log(f"{len(rows) - used} pair(s) dropped: their prompt alone reaches max_length={s.max_length}")
    planned = steps_planned(s, used, args.world_size)
    on_event({
        "event": "started",
        "pairs": len(rows),
        "pairs_heldout": heldout,
        "pairs_used": used,
        "steps_planned": planned,
        "lora": s.lora is not None,
        "device": str(args.device),
        "bf16": bf16,
        "world_size": args.world_size,
    })
    if is_main:
        _log(f"{used} pairs, {planned} steps, lora={s.lora is not None}, device={args.device}, bf16={bf16}")

    result = trainer.train()
    save_outputs(trainer, result, s, started)

if __name__ == "__main__":
    main()
