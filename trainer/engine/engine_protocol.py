"""Helpers shared by the engine scripts (dpo.py, convert_gguf.py).

Usage (from a script beside this file):

    from engine_protocol import emit, isolate_stdout, load_config, sha256_file, watch_parent

    isolate_stdout()          # optional: native writes to fd 1 go to stderr from now on
    watch_parent()            # die with the Node trainer that started us
    cfg = load_config(path, required=("model_dir",))
    emit({"event": "started"})

stdout is a JSON-lines protocol read by the TypeScript driver: one JSON object per line, written
only through emit(). Everything else (logs, tqdm bars, Trainer prints, subprocess output) belongs
on stderr.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import math
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

# The real stdout, saved before anything can redirect sys.stdout; emit() writes only here.
PROTOCOL_OUT: TextIO = sys.stdout

# Exit status when the parent went away (EX_SOFTWARE); the driver is gone, so nobody reads it.
PARENT_GONE_EXIT = 70
_PR_SET_PDEATHSIG = 1
_SIGKILL = 9
_LAUNCHER_MARKERS = ("accelerate", "torchrun", "torch.distributed.run", "torch.distributed.launch")


def log(prefix: str, msg: str) -> None:
    print(f"[{prefix}] {msg}", file=sys.stderr, flush=True)


def _json_safe(value: Any) -> Any:
    """NaN/inf are not JSON; send them as null rather than as tokens the driver cannot parse."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def emit(event: dict[str, Any]) -> None:
    """Writes one protocol event as a single JSON line on the real stdout and flushes it."""
    PROTOCOL_OUT.write(json.dumps(_json_safe(event), allow_nan=False, ensure_ascii=False) + "\n")
    PROTOCOL_OUT.flush()


def isolate_stdout() -> None:
    """Keeps the protocol stream clean of anything but emit().

    File descriptor 1 is duplicated for the protocol, then pointed at stderr, and sys.stdout is
    replaced by sys.stderr: Python prints, tqdm.write, native libraries writing to fd 1 and child
    processes that inherit fd 1 all end up on stderr. Idempotent.
    """
    global PROTOCOL_OUT
    if getattr(isolate_stdout, "done", False):
        return
    try:
        sys.stdout.flush()
        protocol_fd = os.dup(sys.stdout.fileno())
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        # No real file descriptor (e.g. captured by a test harness): fall back to Python-level only.
        PROTOCOL_OUT = sys.stdout
    else:
        PROTOCOL_OUT = os.fdopen(protocol_fd, "w", encoding="utf-8", buffering=1)
    sys.stdout = sys.stderr
    isolate_stdout.done = True  # type: ignore[attr-defined]


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Python-level redirect for a block (what smoke_dpo.py does around trainer.train())."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _proc_ppid(pid: int) -> int | None:
    """Parent pid of `pid` from /proc (Linux only); None when it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    try:
        return int(stat[stat.rindex(")") + 2 :].split()[1])
    except (ValueError, IndexError):
        return None


def _proc_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _set_pdeathsig() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort; the polling thread still covers us
        pass


def watch_parent(interval: float = 0.5, watch_launcher: bool | None = None) -> None:
    """Exits the process (status 70) as soon as the process that started it is gone.

    The Node trainer may be SIGKILLed; the engine must not outlive it. A daemon thread polls
    os.getppid() every `interval` seconds and calls os._exit(70) when it changes (we were
    reparented). On Linux, PR_SET_PDEATHSIG=SIGKILL is also requested (failures ignored).

    Under `accelerate launch` / torchrun the parent is the launcher, which survives the driver's
    death; so when the parent's command line names one of them (or watch_launcher=True), the
    launcher's own parent is watched too, through /proc.
    """
    parent = os.getppid()
    _set_pdeathsig()
    # The parent may have died between fork and here: PDEATHSIG does not fire retroactively.
    if parent == 1:
        os._exit(PARENT_GONE_EXIT)
    if watch_launcher is None:
        cmdline = _proc_cmdline(parent)
        watch_launcher = any(marker in cmdline for marker in _LAUNCHER_MARKERS)
    grandparent = _proc_ppid(parent) if watch_launcher else None

    def poll() -> None:
        import time

        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(PARENT_GONE_EXIT)
            if grandparent is not None:
                now = _proc_ppid(parent)
                if now is not None and now != grandparent:
                    os._exit(PARENT_GONE_EXIT)

    threading.Thread(target=poll, name="watch-parent", daemon=True).start()


def load_config(path: str | os.PathLike[str], required: Sequence[str] = ()) -> dict[str, Any]:
    """Reads a JSON object from `path`; SystemExit with a clear message when it is unusable."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise SystemExit(f"config: cannot read {p}: {e.strerror or e}") from None
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        raise SystemExit(f"config: {p} is not valid JSON: {e}") from None
    if not isinstance(cfg, dict):
        raise SystemExit(f"config: {p} must hold a JSON object, got {type(cfg).__name__}")
    for name in required:
        if cfg.get(name) in (None, ""):
            raise SystemExit(f"config: required field '{name}' is missing in {p}")
    return cfg


_KINDS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}
_JSON_NAMES = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean", "list": "an array",
               "dict": "an object"}


def require_field(cfg: dict[str, Any], name: str, kind: str, nullable: bool = False) -> Any:
    """cfg[name] checked against `kind` (str|int|float|bool|list|dict); null only when `nullable`.

    The trainer resolves every field before it starts a script, so a missing one is a bug, not a default.
    """
    if name not in cfg:
        raise SystemExit(f"config: field '{name}' is missing (the trainer writes every field)")
    value = cfg[name]
    if value is None:
        if nullable:
            return None
        raise SystemExit(f"config: field '{name}' must not be null")
    types = _KINDS[kind]
    # bool is an int in Python; a JSON true must not pass as a number, nor 1 as a boolean.
    if (kind != "bool" and isinstance(value, bool)) or not isinstance(value, types):
        raise SystemExit(f"config: field '{name}' must be {_JSON_NAMES[kind]}, got {json.dumps(value)}")
    if kind == "float":
        value = float(value)
        if not math.isfinite(value):
            raise SystemExit(f"config: field '{name}' must be a finite number")
    return value


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
