"""Converts a HF checkpoint (e.g. dpo.py's merged dir) to GGUF with the bundled llama.cpp converter.

Usage: python convert_gguf.py --hf-dir DIR --outfile FILE.gguf --outtype f32|f16|bf16|q8_0 [--llama-cpp DIR]
                              [--model-name NAME]

Runs convert_hf_to_gguf.py from the llama.cpp source bundled with node-llama-cpp (default
<venv>/llama.cpp, as make_fixtures.py does) into FILE.gguf.tmp, then renames it to FILE.gguf, so
the final path only ever holds a complete file. stdout is the JSON-lines protocol (see
engine_protocol.emit); the converter's own output goes to stderr. Events:
    {"event": "artifact", "kind": "gguf", "path": "<absolute FILE.gguf>", "sha256": str, "bytes": int,
     "outtype": str}
    {"event": "done", "path": str, "outtype": str, "seconds": float}
A missing input or converter, or a converter failure, exits non-zero with the reason on stderr.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from engine_protocol import emit, isolate_stdout, log, sha256_file, watch_parent

OUTTYPES = ("f32", "f16", "bf16", "q8_0")


def _log(msg: str) -> None:
    log("convert_gguf", msg)


def convert(llama_cpp: Path, hf_dir: Path, outfile: Path, outtype: str, model_name: str | None = None) -> None:
    converter = llama_cpp / "convert_hf_to_gguf.py"
    if not converter.is_file():
        raise SystemExit(f"converter not found at {converter}; run `npm run setup`")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("NO_LOCAL_GGUF", None)  # the converter must use the gguf-py that ships beside it
    tmp = outfile.with_name(outfile.name + ".tmp")
    tmp.unlink(missing_ok=True)
    cmd = [sys.executable, str(converter), str(hf_dir), "--outfile", str(tmp), "--outtype", outtype]
    if model_name:
        cmd += ["--model-name", model_name]
    try:
        proc = subprocess.run(
            cmd,
            stdout=sys.stderr,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        if proc.returncode != 0:
            raise SystemExit(f"convert_hf_to_gguf.py failed with exit status {proc.returncode} (see its log above)")
        if not tmp.is_file():
            raise SystemExit(f"convert_hf_to_gguf.py exited 0 but wrote no {tmp}")
        os.replace(tmp, outfile)
    finally:
        tmp.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hf-dir", required=True, type=Path, help="HF checkpoint directory (config.json, *.safetensors)")
    parser.add_argument("--outfile", required=True, type=Path, help="GGUF file to write")
    parser.add_argument("--outtype", required=True, choices=OUTTYPES)
    parser.add_argument("--llama-cpp", type=Path, default=Path(sys.prefix) / "llama.cpp",
                        help="extracted llama.cpp source (default: <venv>/llama.cpp)")
    parser.add_argument("--model-name", help="general.name in the GGUF (default: the converter's, from the dir name)")
    args = parser.parse_args()

    isolate_stdout()
    watch_parent()
    started = time.monotonic()

    hf_dir: Path = args.hf_dir.resolve()
    outfile: Path = args.outfile.resolve()
    if not (hf_dir / "config.json").is_file():
        raise SystemExit(f"--hf-dir {hf_dir} is not a HF checkpoint directory (no config.json)")
    # The converter fills "{ftype}"-style templates in the file name; ours must be taken literally.
    if "{" in outfile.name or "}" in outfile.name:
        raise SystemExit(f"--outfile {outfile}: braces are not allowed in the file name")
    if outfile.is_dir():
        raise SystemExit(f"--outfile {outfile} is a directory")
    outfile.parent.mkdir(parents=True, exist_ok=True)

    _log(f"{hf_dir} -> {outfile} ({args.outtype})")
    convert(args.llama_cpp.resolve(), hf_dir, outfile, args.outtype, args.model_name)
    emit({
        "event": "artifact",
        "kind": "gguf",
        "path": str(outfile),
        "sha256": sha256_file(outfile),
        "bytes": outfile.stat().st_size,
        "outtype": args.outtype,
    })
    emit({"event": "done", "path": str(outfile), "outtype": args.outtype, "seconds": round(time.monotonic() - started, 1)})


if __name__ == "__main__":
    main()
