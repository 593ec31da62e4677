"""The demo's resumable stage runner and the facts every stage shares.

Owns `DEMO_VERSION` (stamped into every stage's result.json), the toy sandbox limits and
verifier, `say` (progress lines on stderr), `SharedStages` (the results of the stages before RL), `stage_key`
and `run_stage`: run a stage function unless its `<stage>/result.json` exists with the same
settings, so an interrupted demo or study resumes where it stopped (and other settings are refused).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrpo.data import write_text_atomic
from pgrpo.sandbox import SandboxConfig

if TYPE_CHECKING:
    from pgrpo.verify import Verifier

# Bump when the world or a stage's meaning changes, so a resumed run never mixes stages from two
# versions. 2: numbered statements, fixed tokenizer. 3: the implicit-head RM; a larger toy LCB-RB.
# 4: splits by task identity, the trap world, readouts split by pass/fail, probe and baseline.
# 5: the weak world (issue 23): weak training tests, an RM per editor, arms, the fair comparison.
# 6: the honest editor's final rules, hidden_trap judged by the strong tests, distinct comparison pairs.
DEMO_VERSION = 6
# Toy programs finish in microseconds: short limits keep a stuck sample from stalling a stage.
SANDBOX = SandboxConfig(workers=2, timeout_per_test_s=1.0, timeout_per_program_s=3.0)


def toy_verifier() -> Verifier:
    from pgrpo.verify import Verifier

    return Verifier(SANDBOX)


def say(message: str) -> None:
    print(f"pgrpo demo: {message}", file=sys.stderr, flush=True)


# DemoConfig fields that never change a stage's result (where it runs, how it reports, how many
# runs at once) or that RL stages carry in their name (seed, mode).
UNKEYED_FIELDS = ("out_dir", "cache_dir", "progress", "jobs", "seeds", "arms")


def stage_key(config: Any, **extra: Any) -> dict[str, Any]:
    """The settings that define a stage: `config` (a DemoConfig) as a dict without UNKEYED_FIELDS,
    plus the stage's own arguments `extra` (JSON-able: mode, seed, candidate, ...)."""
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in UNKEYED_FIELDS}
    # The RMs the shared stages train and score follow the arms (DemoConfig.editors).
    settings["editors"] = list(config.editors)
    key: dict[str, Any] = json.loads(json.dumps({**settings, **extra}, sort_keys=True))
    return key


def _digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def run_stage(out: Path, name: str, fn: Callable[..., dict[str, Any]], *args: Any, key: dict[str, Any]) -> dict[str, Any]:
    """Run `fn(stage_dir, *args)` unless `<stage>/result.json` exists; return its result.
    `key` (pgrpo_toy.stage.stage_key) is stored with the result; a result written by another
    demo version or with other settings is refused (it would be stale), naming what differs."""
    from pgrpo.errors import PgrpoError

    stage_dir = out / name
    done = stage_dir / "result.json"
    if done.is_file():
        result: dict[str, Any] = json.loads(done.read_text(encoding="utf-8"))
        if result.get("demo_version") != DEMO_VERSION:
            raise PgrpoError(f"{done}: written by another version of pgrpo demo (demo_version "
                             f"{result.get('demo_version')}, this is {DEMO_VERSION}); use a new --out directory")
        if result.get("stage_key") != _digest(key):
            old = result.get("stage_settings") or {}
            differ = sorted(k for k in set(old) | set(key) if old.get(k) != key.get(k))
            raise PgrpoError(f"{done}: stage {name} was run with other settings "
                             f"({', '.join(differ) if old else 'no settings recorded'} differ); "
                             "use a new --out directory")
        say(f"{name}: done in an earlier run, reusing {done}")
        return result
    stage_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say(f"{name}: starting")
    result = fn(stage_dir, *args)
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    result["demo_version"] = DEMO_VERSION
    result["stage_key"] = _digest(key)
    result["stage_settings"] = key
    write_text_atomic(done, json.dumps(result, indent=2))
    say(f"{name}: finished in {result['wall_seconds']} s")
    return result


@dataclass(frozen=True)
class SharedStages:
    """The result.json content of each stage that precedes RL (pgrpo_toy.demo.shared_stages);
    `pairs` and `rms` by editor, `probe` by editor inside."""

    policy: dict[str, Any]
    generator: dict[str, Any]
    pairs: dict[str, dict[str, Any]]
    rms: dict[str, dict[str, Any]]
    bench: dict[str, Any]
    probe: dict[str, Any]
    comparison: dict[str, Any] | None

    @property
    def rm_paths(self) -> dict[str, str]:
        return {editor: rm["path"] for editor, rm in self.rms.items()}
