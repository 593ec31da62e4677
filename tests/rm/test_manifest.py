"""The reward-model manifest: one file says what an RM is, every consumer reads it, a moved RM
directory keeps working, a recipe cannot contradict it, and an RM without one is refused."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from pgrpo.cli import main
from pgrpo.config import ConfigError
from pgrpo.data.math import MathProblem
from pgrpo.errors import PgrpoError
from pgrpo.parsing import format_response, parse_response
from pgrpo.rewards.batch import RewardEvaluator
from pgrpo.rm.manifest import (
    MANIFEST_FILE,
    read_manifest,
)
from pgrpo.rm.scoring import RewardScorer, RMItem
from pgrpo.verify import Verdict

ROOT = Path(__file__).resolve().parents[2]
TINY_RECIPE = ROOT / "recipes" / "tiny-cpu.yaml"
ROWS = [{"question_id": f"q{i}", "problem": f"Write f{i}(x) returning x plus {i}.", "difficulty": "easy",
         "contest_date": "2024-01-01", "chosen_reasoning": f"Add {i} to x and return it.",
         "chosen_code": f"def f{i}(x):\n    return x + {i}", "rejected_reasoning": f"Subtract {i} from x.",
         "rejected_code": f"def f{i}(x):\n    return x - {i}"} for i in range(3)]
SIDES = [(row["problem"], row[f"{side}_reasoning"], row[f"{side}_code"]) for row in ROWS
         for side in ("chosen", "rejected")]


@pytest.fixture(params=["scalar", "implicit"])
def moved_rm(request, tmp_path, tiny_rm_path, tiny_policy_path, nudged_implicit_rm):
    """An RM directory with its manifest (the scalar one reasoning-only, as pgrpo.tiny builds
    it; the implicit one reading code), moved away from where it was built."""
    built = tmp_path / "built"
    if request.param == "scalar":
        shutil.copytree(tiny_rm_path, built)
    else:
        nudged_implicit_rm(built, tiny_policy_path)
    moved = tmp_path / "elsewhere" / "rm"
    moved.parent.mkdir()
    shutil.move(str(built), moved)
    assert not built.exists()
    return moved


def _recipe(rm_path, *overrides):
    """The tiny CPU recipe using the RM at `rm_path`."""
    from pgrpo.train.config import load_train_config

    return load_train_config(TINY_RECIPE, ["output_dir=x", f"data.source={ROOT / 'recipes/data/tiny-humaneval.jsonl'}",
                                           "reward.build_tiny_rm=false", f"reward.rm_path={rm_path}", *overrides])


def _thinking_scores(rm_path) -> list[float | None]:
    """R_t of the RL run: the runner's thinking fn inside a RewardEvaluator, one completion per side."""
    from pgrpo.train.runner import recipe_thinking_fn

    config = _recipe(rm_path)
    texts = [format_response(reasoning, code) for _, reasoning, code in SIDES]

    def verify_fn(items):  # every completion passes, so the RM scores all of them
        return [Verdict(True, "passed", 1.0, True, parse_response(r).reasoning, parse_response(r).code, "")
                for _, r in items]

    targets = {f"t{i}": MathProblem(f"t{i}", statement, "") for i, (statement, _, _) in enumerate(SIDES)}
    thinking_fn, rm_truncated = recipe_thinking_fn(config, str(rm_path))
    evaluator = RewardEvaluator(targets, verify_fn, thinking_fn, mode="posterior", rm_truncated=rm_truncated)
    rewards, _ = evaluator.evaluate(list(targets), texts)
    return [r.raw_thinking for r in rewards.rewards]


def test_every_consumer_scores_a_moved_rm_identically(moved_rm, tmp_path):
    manifest = read_manifest(moved_rm)
    # (a) the RL thinking reward
    thinking = _thinking_scores(moved_rm)
    # (b) `pgrpo rm eval` (its CLI), raw scores per pair
    bench = tmp_path / "lcb_rb.jsonl"
    bench.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    assert main(["rm", "eval", "--data", str(bench), "--model", str(moved_rm), "--out", str(tmp_path / "eval")]) == 0
    scored = [json.loads(line) for line in (tmp_path / "eval" / "scores.jsonl").read_text().splitlines()]
    evaluated = [row[side] for row in scored for side in ("chosen", "rejected")]
    # (c) the scorer itself, given the code: it keeps it only if the manifest says so
    scorer = RewardScorer(str(moved_rm), device="cpu")
    items = [RMItem(*side) for side in SIDES]
    assert scorer.max_length == manifest.max_length
    assert evaluated == scorer.raw_scores(items)
    assert thinking == scorer.score(items)
    assert thinking == pytest.approx([1 / (1 + pow(2.718281828459045, -x)) for x in evaluated], abs=1e-9)
    assert len(set(evaluated)) == len(evaluated)  # real, distinct scores
    # what the manifest says really decides the input
    without_code = scorer.raw_scores([RMItem(s, r) for s, r, _ in SIDES])
    assert (without_code == evaluated) is (not manifest.include_code)


def test_a_recipe_contradicting_the_manifest_fails_before_any_model_loads(tiny_rm_path, monkeypatch):
    import transformers

    from pgrpo.train.config import validate_train_config

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded during config validation")

    monkeypatch.setattr(transformers.AutoModelForSequenceClassification, "from_pretrained", no_model)
    validate_train_config(_recipe(tiny_rm_path))
    # What the RM reads is its manifest's alone: no recipe key restates it.
    with pytest.raises(ConfigError, match="rm_include_code"):
        _recipe(tiny_rm_path, "reward.rm_include_code=true")


def test_an_rm_without_a_current_manifest_is_refused_naming_the_file(tiny_rm_path, tmp_path, capsys):
    from pgrpo.train.config import validate_train_config

    old = tmp_path / "old-rm"
    shutil.copytree(tiny_rm_path, old)
    (old / MANIFEST_FILE).unlink()
    regenerate = f"{MANIFEST_FILE}: no reward-model manifest.*regenerate it with `pgrpo rm train"
    with pytest.raises(PgrpoError, match=regenerate):
        RewardScorer(str(old), device="cpu")
    with pytest.raises(ConfigError, match=f"reward.rm_path: .*{regenerate}"):
        validate_train_config(_recipe(old))
    bench = tmp_path / "pairs.jsonl"
    bench.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    assert main(["rm", "eval", "--data", str(bench), "--model", str(old)]) == 2
    assert f"{old / MANIFEST_FILE}: no reward-model manifest" in capsys.readouterr().err
    # the unversioned metadata file of earlier releases is an older manifest version
    (old / MANIFEST_FILE).write_text(json.dumps({"include_code": False, "source": "pgrpo rm pairs"}))
    with pytest.raises(PgrpoError, match=f"{MANIFEST_FILE}: manifest version 1, this pgrpo reads version 2.*"
                                         "pgrpo rm train"):
        read_manifest(old)


def test_rm_eval_reads_the_rm_as_its_manifest_says_and_no_flag_restates_it(tiny_rm_path, tmp_path, capsys):
    bench = tmp_path / "lcb_rb.jsonl"
    bench.write_text(json.dumps(ROWS[0]) + "\n")
    assert main(["rm", "eval", "--data", str(bench), "--model", tiny_rm_path]) == 0
    assert f"RM input: problem + reasoning (model's {MANIFEST_FILE})" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["rm", "eval", "--data", str(bench), "--model", tiny_rm_path, "--include-code", "true"])
    assert "unrecognized arguments: --include-code" in capsys.readouterr().err


def test_the_tiny_rm_of_pgrpo_train_carries_a_manifest(tmp_path):
    from pgrpo.train.config import load_train_config
    from pgrpo.train.runner import prepare_models

    _, rm_path = prepare_models(load_train_config(TINY_RECIPE, [f"output_dir={tmp_path}"]), tmp_path)
    assert rm_path is not None
    manifest = read_manifest(rm_path)
    assert (manifest.head, manifest.include_code, manifest.implicit) == ("scalar", False, None)
    assert dataclasses.asdict(manifest)["version"] == 2


def test_a_hub_id_reads_as_a_scalar_rm_and_a_local_dir_needs_its_manifest(tmp_path):
    from pgrpo.errors import PgrpoError
    from pgrpo.rm.manifest import read_manifest

    hub = read_manifest("Skywork/Skywork-Reward-Llama-3.1-8B")
    assert (hub.head, hub.include_code, hub.base_model) == ("scalar", False, "Skywork/Skywork-Reward-Llama-3.1-8B")
    with pytest.raises(PgrpoError, match="pgrpo_rm.json"):
        read_manifest(str(tmp_path))
