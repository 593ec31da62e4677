"""`pgrpo train --config recipes/tiny-cpu.yaml` end to end, once per reward mode (slow).

One tiny policy is built and format-warmed once for the module; each mode then trains it for
two GRPO steps in its own output dir.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgrpo.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes" / "tiny-cpu.yaml"
TINY_DATA = str(ROOT / "recipes" / "data" / "tiny-humaneval.jsonl")
COMMON = [f"data.source={TINY_DATA}", "grpo.max_steps=2", "grpo.per_device_train_batch_size=8",
          "grpo.save_steps=2", "grpo.report_to=none", "logging.sample_every=1", "sandbox.workers=1"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def warmed_policy(tmp_path_factory, tiny_tokenizer):
    import torch

    from pgrpo.tiny import build_tiny_model
    from pgrpo.train.config import load_train_config
    from pgrpo.train.tasks import format_warmup, load_examples

    torch.set_num_threads(1)
    path = build_tiny_model(tmp_path_factory.mktemp("warm-policy"), tokenizer=tiny_tokenizer)
    config = load_train_config(TINY, [f"data.source={TINY_DATA}"])
    from transformers import AutoTokenizer

    examples = load_examples(config, AutoTokenizer.from_pretrained(path))
    assert format_warmup(path, examples, config.model.format_warmup_steps)
    assert not format_warmup(path, examples, 5)  # runs once per model dir
    return str(path)


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("mode", ["posterior", "additive", "outcome"])
def test_tiny_recipe_trains_in_each_mode(tmp_path, warmed_policy, mode):
    out = tmp_path / mode
    code = main(["train", "--config", str(TINY), f"output_dir={out}", f"reward.mode={mode}",
                 "model.build_tiny=false", "model.format_warmup_steps=0", f"model.path={warmed_policy}",
                 *([] if mode != "outcome" else ["reward.build_tiny_rm=false"]), *COMMON])
    assert code == 0
    before, after = _weights(Path(warmed_policy)), _weights(out / "final")
    changed = [k for k in before if not (before[k] == after[k]).all()]
    assert changed, "no parameter changed"

    steps = [r for r in _rows(out / "metrics.jsonl") if not r.get("summary")]
    assert [r["step"] for r in steps] == [1, 2]
    for row in steps:
        for component in ("format", "outcome", "thinking"):
            assert row[f"rewards/{component}/mean"] is not None
        total = sum(row[f"rewards/{c}/mean"] for c in ("format", "outcome", "thinking"))
        assert row["reward"] == pytest.approx(total, abs=1e-5)
        assert {"outcome/pass_rate", "thinking/rm_scored", "gate/frac_zero_std_groups",
                "gate/frac_zero_std_groups_no_thinking", "time/sandbox_s_max", "time/rm_s_mean",
                "sandbox/timeouts", "thinking/rm_truncated"} <= set(row)
        scored, n = row["thinking/rm_scored"], 8
        if mode == "posterior":  # only passing completions reach the RM
            assert scored == pytest.approx(row["outcome/pass_rate"] * n)
        elif mode == "additive":
            assert scored == n
        else:
            assert scored == 0 and row["rewards/thinking/mean"] == 0.0
    samples = _rows(out / "samples.jsonl")
    assert samples and {"completion", "format", "outcome", "thinking", "total"} <= set(samples[0])
    assert (out / "checkpoint-2").is_dir()
    assert (out / "tiny-rm-UNTRAINED").is_dir() == (mode != "outcome")
