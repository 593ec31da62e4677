"""Which `checkpoint-N` in an output dir is complete enough to resume from (headers and sizes only).

Complete: `trainer_state.json` with global_step N; whole weights (safetensors spans checked, sharded
indexes, torch/PEFT files; under DeepSpeed in `global_stepN/`); unless `save_only_model`, optimizer
and scheduler (DeepSpeed: the `latest` tag, model states, one optimizer partition per rank) and RNG
state (`rng_state.pth` or `rng_state_0..k-1.pth`, k >= 2); every torch file a whole zip archive.
"""

from __future__ import annotations

import json
import math
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")  # transformers' PREFIX_CHECKPOINT_DIR + "-N"
TRAINER_STATE = "trainer_state.json"
SAFETENSORS_INDEXES = ("model.safetensors.index.json", "adapter_model.safetensors.index.json")
SAFETENSORS_FILES = ("model.safetensors", "adapter_model.safetensors")
TORCH_INDEXES = ("pytorch_model.bin.index.json",)
TORCH_WEIGHTS = ("pytorch_model.bin", "adapter_model.bin")
OPTIMIZER_FILES = ("optimizer.pt", "optimizer.bin")
SCHEDULER_FILE = "scheduler.pt"
OPTIONAL_TORCH_FILES = ("scaler.pt",)  # written only with a gradient scaler (fp16)
DEEPSPEED_LATEST = "latest"
_DS_ZERO = re.compile(r"^(?:bf16_)?zero_pp_rank_(\d+)_mp_rank_(\d+)_(model|optim)_states\.pt$")
_DS_MODEL = re.compile(r"^mp_rank_(\d+)_model_states\.pt$")
_RNG_RANK = re.compile(r"^rng_state_(\d+)\.pth$")
# bytes per element of each safetensors dtype (sub-byte dtypes are not size-checked)
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "I16": 2, "U16": 2,
                "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8}
_MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header


@dataclass(frozen=True)
class Skipped:  # a checkpoint not resumed from, and the first problem found in it
    path: Path
    reason: str


@dataclass(frozen=True)
class ResumeChoice:  # the newest complete checkpoint (None: there is none), the newer ones skipped
    checkpoint: Path | None
    skipped: tuple[Skipped, ...]


def checkpoint_step(path: Path) -> int | None:
    match = CHECKPOINT_DIR.match(path.name)
    return int(match.group(1)) if match else None


def newest_complete(output_dir: Path, *, save_only_model: bool = False) -> ResumeChoice:
    """The highest-numbered complete `checkpoint-N` in `output_dir`, and every higher one (and why)."""
    if not output_dir.is_dir():
        return ResumeChoice(None, ())
    found = sorted(((step, path) for path in output_dir.iterdir()
                    if path.is_dir() and (step := checkpoint_step(path)) is not None), reverse=True)
    skipped: list[Skipped] = []
    for _, path in found:
        problem = checkpoint_problem(path, save_only_model=save_only_model)
        if problem is None:
            return ResumeChoice(path, tuple(skipped))
        skipped.append(Skipped(path, problem))
    return ResumeChoice(None, tuple(skipped))


def checkpoint_problem(path: Path, *, save_only_model: bool = False) -> str | None:
    """The first reason `path` cannot be resumed from (a sentence naming the file), None when complete."""
    try:
        _check_trainer_state(path)
        deepspeed = _is_deepspeed(path)
        ranks = _check_deepspeed(path) if deepspeed and not save_only_model else None
        _check_weights(path, required=not deepspeed)
        if not save_only_model:
            if not deepspeed:
                _check_torch(_one_of(path, OPTIMIZER_FILES, "optimizer state"))
                _check_torch(_one_of(path, (SCHEDULER_FILE,), "learning-rate scheduler state"))
            elif (path / SCHEDULER_FILE).exists():  # a scheduler DeepSpeed does not own
                _check_torch(path / SCHEDULER_FILE)
            _check_rng(path, ranks)
        for name in OPTIONAL_TORCH_FILES:
            if (path / name).exists():
                _check_torch(path / name)
    except _Torn as torn:
        return str(torn)
    return None


class _Torn(Exception):
    """One problem with a checkpoint: the message names the file."""


def _check_trainer_state(path: Path) -> None:
    state_file = path / TRAINER_STATE
    if not state_file.is_file():
        raise _Torn(f"no {TRAINER_STATE} (the Trainer writes it last: the save did not finish)")
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Torn(f"{TRAINER_STATE} does not parse: {exc}") from None
    step = state.get("global_step") if isinstance(state, dict) else None
    expected = checkpoint_step(path)
    if not isinstance(step, int) or (expected is not None and step != expected):
        raise _Torn(f"{TRAINER_STATE} has global_step {step!r}, the directory name says {expected}")


def _one_of(path: Path, names: tuple[str, ...], what: str) -> Path:
    for name in names:
        if (path / name).is_file():
            return path / name
    raise _Torn(f"no {what} ({' or '.join(names)})")


def _check_torch(file: Path) -> None:
    """A torch.save file is a zip whose central directory (at the end) lists members that fit."""
    try:
        size = file.stat().st_size
        with open(file, "rb") as handle:
            magic = handle.read(2)
        if magic == b"\x80\x02" or magic == b"\x80\x04":  # torch's legacy (pre-1.6) pickle format: no index to check
            return
        with zipfile.ZipFile(file) as archive:
            for info in archive.infolist():
                if info.header_offset + info.compress_size > size:
                    raise _Torn(f"{file.name} is cut short: member {info.filename} runs past its end")
    except FileNotFoundError:
        raise _Torn(f"no {file.name}") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise _Torn(f"{file.name} is not a whole torch file ({exc})") from None


def _check_safetensors(file: Path, names: set[str] | None = None) -> None:
    """Header parses; every tensor's span fits its dtype and shape; the file ends where the data does."""
    try:
        size = file.stat().st_size
        with open(file, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                raise _Torn(f"{file.name} is cut short: {size} bytes, no safetensors header")
            (length,) = struct.unpack("<Q", head)
            if length > min(_MAX_HEADER, size - 8):
                raise _Torn(f"{file.name} is cut short: header of {length} bytes in a {size}-byte file")
            header = json.loads(handle.read(length))
    except FileNotFoundError:
        raise _Torn(f"no {file.name}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Torn(f"{file.name}: the safetensors header does not parse ({exc})") from None
    if not isinstance(header, dict):
        raise _Torn(f"{file.name}: the safetensors header is not a JSON object")
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, stop = (int(x) for x in entry["data_offsets"])
            count = math.prod(int(d) for d in entry["shape"])
            width = _DTYPE_BYTES.get(str(entry["dtype"]))
        except (TypeError, KeyError, ValueError):
            raise _Torn(f"{file.name}: tensor {name!r} has no valid dtype/shape/data_offsets") from None
        if stop < begin or (width is not None and stop - begin != count * width):
            raise _Torn(f"{file.name}: tensor {name!r} spans {stop - begin} bytes, its dtype and shape say "
                        f"{count * (width or 0)}")
        end = max(end, stop)
    if size != 8 + length + end:
        raise _Torn(f"{file.name} is {size} bytes; its header says {8 + length + end} (cut short or overwritten)")
    missing = (names or set()) - set(header)
    if missing:
        raise _Torn(f"{file.name} lacks {len(missing)} tensor(s) its index maps to it, e.g. {sorted(missing)[0]}")


def _check_index(index: Path, shard_check: str) -> None:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards: dict[str, set[str]] = {}
        for tensor, shard in weight_map.items():
            shards.setdefault(str(shard), set()).add(str(tensor))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise _Torn(f"{index.name} does not parse as a weights index ({exc})") from None
    if not shards:
        raise _Torn(f"{index.name} maps no tensors")
    for shard, tensors in sorted(shards.items()):
        if shard_check == "safetensors":
            _check_safetensors(index.parent / shard, tensors)
        else:
            _check_torch(index.parent / shard)


def _check_weights(path: Path, *, required: bool) -> None:
    indexes = [n for n in SAFETENSORS_INDEXES + TORCH_INDEXES if (path / n).is_file()]
    files = [n for n in SAFETENSORS_FILES + TORCH_WEIGHTS if (path / n).exists()]
    for name in indexes:
        _check_index(path / name, "safetensors" if name in SAFETENSORS_INDEXES else "torch")
    for name in files:
        (_check_safetensors if name in SAFETENSORS_FILES else _check_torch)(path / name)
    if required and not indexes and not files:
        raise _Torn("no model weights (model.safetensors, a sharded index, pytorch_model.bin or adapter_model.*)")


def _is_deepspeed(path: Path) -> bool:
    return (path / DEEPSPEED_LATEST).exists() or any(p.is_dir() for p in path.glob("global_step*"))


def _contiguous(ranks: set[int], what: str) -> int:
    if ranks != set(range(len(ranks))):
        missing = sorted(set(range(max(ranks) + 1)) - ranks)
        raise _Torn(f"{what}: rank(s) {missing} missing (have {sorted(ranks)})")
    return len(ranks)


def _check_deepspeed(path: Path) -> int | None:
    """The `latest` tag, its dir and files; how many data-parallel ranks saved ZeRO parts (None: ZeRO-0)."""
    try:
        tag = (path / DEEPSPEED_LATEST).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise _Torn(f"DeepSpeed checkpoint without a readable '{DEEPSPEED_LATEST}' tag "
                    "(the save did not finish)") from None
    tag_dir = path / tag
    if not tag or not tag_dir.is_dir():
        raise _Torn(f"'{DEEPSPEED_LATEST}' names {tag!r}, which is not a directory here")
    zero: dict[tuple[str, int], set[int]] = {}  # (model|optim, mp rank) -> dp ranks
    plain_model = False
    for file in sorted(tag_dir.iterdir()):
        if file.suffix == ".pt":
            _check_torch(file)
        if (match := _DS_ZERO.match(file.name)) is not None:
            zero.setdefault((match.group(3), int(match.group(2))), set()).add(int(match.group(1)))
        elif _DS_MODEL.match(file.name):
            plain_model = True
    if not plain_model and not any(kind == "model" for kind, _ in zero):
        raise _Torn(f"{tag}/ holds no model states (*model_states.pt)")
    counts = {(kind, mp): _contiguous(ranks, f"{tag}/ {kind} states of model-parallel rank {mp}")
              for (kind, mp), ranks in zero.items()}
    if not counts:  # no ZeRO partitions: the optimizer is inside mp_rank_*_model_states.pt
        return None
    if not any(kind == "optim" for kind, _ in counts):
        raise _Torn(f"{tag}/ holds ZeRO-3 model states but no optimizer states (*optim_states.pt)")
    if len(set(counts.values())) > 1:
        raise _Torn(f"{tag}/: different numbers of ranks saved their parts: {sorted(counts.items())}")
    return next(iter(counts.values()))


def _check_rng(path: Path, ranks: int | None) -> None:
    """rng_state.pth (one process) or rng_state_0..k-1.pth (k processes; k = the DeepSpeed rank count)."""
    per_rank = {int(m.group(1)) for p in path.iterdir() if (m := _RNG_RANK.match(p.name))}
    if per_rank:
        count = _contiguous(per_rank, "RNG state files rng_state_<rank>.pth")
        if count == 1:  # per-rank files come from a run of 2+ processes
            raise _Torn("RNG state of rank 0 only (rng_state_0.pth): the other ranks' files are missing")
        if ranks is not None and count != ranks and ranks > 1:
            raise _Torn(f"RNG state of {count} ranks, DeepSpeed states of {ranks}")
        for rank in range(count):
            _check_torch(path / f"rng_state_{rank}.pth")
    elif ranks is not None and ranks > 1:
        raise _Torn(f"no RNG state (rng_state_<rank>.pth) for the {ranks} ranks that saved it")
    else:
        _check_torch(_one_of(path, ("rng_state.pth",), "RNG state"))
