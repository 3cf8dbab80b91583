"""Smoke check that the pinned engine stack runs TRL's DPOTrainer with a peft LoRA adapter.

Usage: python smoke_dpo.py MODEL_DIR [OUTPUT_DIR]

Trains two steps on a handful of preference pairs against the tiny fixture checkpoint (see
make_fixtures.py), merges the adapter and prints one JSON line `{"event":"done",...}`. It proves
the versions in requirements.txt work together; it is not the training engine.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

PAIRS = [
    ("What is a fever?",
     "A fever is a body temperature of 38 degrees Celsius or higher.",
     "A fever is nothing to worry about, ever."),
    ("Do antibiotics work for viral infections?",
     "No. Antibiotics only work against bacteria.",
     "Yes, antibiotics cure every infection."),
    ("How do I treat a minor burn?",
     "Cool the burn under cool running water for 20 minutes.",
     "Put butter on the burn."),
    ("What should I do if someone is choking?",
     "Give up to five sharp back blows, then up to five abdominal thrusts.",
     "Wait and see if it passes."),
]


def main() -> None:
    model_dir = Path(sys.argv[1])
    out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp(prefix="smoke-dpo-"))

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    started = time.monotonic()
    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    # Conversational preference format: TRL applies the tokenizer's chat template itself.
    dataset = Dataset.from_list([
        {
            "prompt": [{"role": "user", "content": q}],
            "chosen": [{"role": "assistant", "content": good}],
            "rejected": [{"role": "assistant", "content": bad}],
        }
        for q, good, bad in PAIRS
    ])
    args = DPOConfig(
        output_dir=str(out_dir / "run"),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        beta=0.1,
        max_length=256,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
        dataloader_num_workers=0,
    )
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=lora)
    # Trainer prints its log dicts on stdout, which belongs to the engine's JSON-lines protocol.
    with contextlib.redirect_stdout(sys.stderr):
        result = trainer.train()
    merged = trainer.model.merge_and_unload()
    merged.save_pretrained(str(out_dir / "merged"))
    # The base's tokenizer files, not tokenizer.save_pretrained(): that drops tokenizer.model and
    # add_bos_token, and the converter would then build another vocabulary (llama-hf path, BOS added).
    for name in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json"):
        if (model_dir / name).is_file():
            shutil.copyfile(model_dir / name, out_dir / "merged" / name)
    metrics = [h for h in trainer.state.log_history if "loss" in h]
    print(json.dumps({
        "event": "done",
        "train_loss": result.training_loss,
        "steps": trainer.state.global_step,
        "log": metrics,
        "merged": str(out_dir / "merged"),
        "seconds": round(time.monotonic() - started, 1),
    }), flush=True)


if __name__ == "__main__":
    main()
