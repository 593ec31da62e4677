"""pgrpo.train.checkpoints on checkpoint directories laid out as transformers' Trainer and
DeepSpeed write them (real safetensors / torch.save files, tiny tensors), whole and torn."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from pgrpo.train.checkpoints import checkpoint_problem, newest_complete

TENSORS = {"a.weight": torch.zeros(4, 3), "b.bias": torch.ones(5, dtype=torch.bfloat16)}


def _state(path: Path, step: int) -> None:
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}))


def trainer_checkpoint(root: Path, step: int, *, ranks: int = 1) -> Path:
    """checkpoint-N as the Trainer writes it without DeepSpeed (one process or `ranks` processes)."""
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    save_file(TENSORS, str(path / "model.safetensors"))
    torch.save({"state": {}, "param_groups": []}, path / "optimizer.pt")
    torch.save({"last_epoch": step}, path / "scheduler.pt")
    for rank in range(ranks):
        torch.save({"cpu": torch.zeros(3)}, path / ("rng_state.pth" if ranks == 1 else f"rng_state_{rank}.pth"))
    _state(path, step)
    return path


def deepspeed_checkpoint(root: Path, step: int, ranks: int = 2) -> Path:
    """checkpoint-N as the Trainer writes it under ZeRO-3 (16-bit weights gathered on save)."""
    path = root / f"checkpoint-{step}"
    tag = path / f"global_step{step}"
    tag.mkdir(parents=True)
    save_file(TENSORS, str(path / "model.safetensors"))
    for rank in range(ranks):
        torch.save({"module": None}, tag / f"zero_pp_rank_{rank}_mp_rank_00_model_states.pt")
        torch.save({"optimizer_state_dict": {}}, tag / f"bf16_zero_pp_rank_{rank}_mp_rank_00_optim_states.pt")
        torch.save({"cpu": torch.zeros(3)}, path / f"rng_state_{rank}.pth")
    (path / "latest").write_text(f"global_step{step}")
    _state(path, step)
    return path


def truncate(file: Path, keep: float = 0.5) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * keep)])


def test_a_whole_checkpoint_is_complete_and_the_newest_whole_one_is_chosen(tmp_path: Path) -> None:
    for step in (1, 2, 10):
        trainer_checkpoint(tmp_path, step)
    (tmp_path / "checkpoint-x").mkdir()  # not a checkpoint-N name: ignored
    assert checkpoint_problem(tmp_path / "checkpoint-10") is None
    choice = newest_complete(tmp_path)
    assert choice.checkpoint == tmp_path / "checkpoint-10" and choice.skipped == ()  # 10 > 2 numerically
    assert newest_complete(tmp_path / "absent").checkpoint is None


@pytest.mark.parametrize("tear, reason", [
    (lambda p: (p / "trainer_state.json").unlink(), "no trainer_state.json"),
    (lambda p: (p / "trainer_state.json").write_text('{"global_step": 3'), "trainer_state.json does not parse"),
    (lambda p: _state(p, 2), "global_step 2, the directory name says 3"),
    (lambda p: truncate(p / "model.safetensors"), "model.safetensors is"),
    (lambda p: truncate(p / "model.safetensors", 0.0), "model.safetensors is cut short"),
    (lambda p: (p / "model.safetensors").unlink(), "no model weights"),
    (lambda p: truncate(p / "optimizer.pt", 0.9), "optimizer.pt is not a whole torch file"),
    (lambda p: (p / "optimizer.pt").unlink(), "no optimizer state"),
    (lambda p: (p / "scheduler.pt").unlink(), "no learning-rate scheduler state"),
    (lambda p: (p / "rng_state.pth").unlink(), "no RNG state"),
    (lambda p: truncate(p / "rng_state.pth"), "rng_state.pth is not a whole torch file"),
    (lambda p: (p / "scaler.pt").write_bytes(b"PK\x03\x04cut"), "scaler.pt is not a whole torch file"),
])
def test_a_torn_newest_checkpoint_is_skipped_naming_why(tmp_path: Path, tear, reason: str) -> None:
    trainer_checkpoint(tmp_path, 2)
    tear(trainer_checkpoint(tmp_path, 3))
    choice = newest_complete(tmp_path)
    assert choice.checkpoint == tmp_path / "checkpoint-2"
    assert [s.path.name for s in choice.skipped] == ["checkpoint-3"]
    assert reason in choice.skipped[0].reason, choice.skipped[0].reason


def test_every_torn_checkpoint_skipped_leaves_no_choice(tmp_path: Path) -> None:
    for step in (1, 2):
        (trainer_checkpoint(tmp_path, step) / "trainer_state.json").unlink()
    choice = newest_complete(tmp_path)
    assert choice.checkpoint is None and [s.path.name for s in choice.skipped] == ["checkpoint-2", "checkpoint-1"]


def test_save_only_model_needs_no_optimizer_scheduler_or_rng(tmp_path: Path) -> None:
    path = trainer_checkpoint(tmp_path, 4)
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (path / name).unlink()
    assert checkpoint_problem(path, save_only_model=True) is None
    assert checkpoint_problem(path) is not None


def test_safetensors_header_must_agree_with_its_tensors(tmp_path: Path) -> None:
    path = trainer_checkpoint(tmp_path, 1)
    file = path / "model.safetensors"
    raw = file.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + length])
    header["a.weight"]["shape"] = [4, 4]  # 16 floats claimed, 12 stored
    body = json.dumps(header).encode()
    file.write_bytes(len(body).to_bytes(8, "little") + body + raw[8 + length:])
    assert "tensor 'a.weight' spans 48 bytes, its dtype and shape say 64" in str(checkpoint_problem(path))
    file.write_bytes(raw + b"\0" * 8)  # longer than its header says
    assert "its header says" in str(checkpoint_problem(path))
    file.write_bytes((10**9).to_bytes(8, "little") + raw[8:])
    assert "header of 1000000000 bytes" in str(checkpoint_problem(path))


def test_sharded_weights_need_every_shard_whole_and_holding_its_tensors(tmp_path: Path) -> None:
    path = trainer_checkpoint(tmp_path, 1)
    (path / "model.safetensors").unlink()
    save_file({"a.weight": TENSORS["a.weight"]}, str(path / "model-00001-of-00002.safetensors"))
    save_file({"b.bias": TENSORS["b.bias"]}, str(path / "model-00002-of-00002.safetensors"))
    weight_map = {"a.weight": "model-00001-of-00002.safetensors", "b.bias": "model-00002-of-00002.safetensors"}
    (path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    assert checkpoint_problem(path) is None
    shard = path / "model-00002-of-00002.safetensors"
    saved = shard.read_bytes()
    truncate(shard)
    assert "model-00002-of-00002.safetensors is" in str(checkpoint_problem(path))
    shard.unlink()
    assert "no model-00002-of-00002.safetensors" in str(checkpoint_problem(path))
    shard.write_bytes(saved)
    weight_map["c.extra"] = "model-00002-of-00002.safetensors"
    (path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    assert "lacks 1 tensor(s) its index maps to it, e.g. c.extra" in str(checkpoint_problem(path))
    (path / "model.safetensors.index.json").write_text("{")
    assert "does not parse as a weights index" in str(checkpoint_problem(path))


def test_per_rank_rng_files_must_run_from_rank_zero(tmp_path: Path) -> None:
    path = trainer_checkpoint(tmp_path, 1, ranks=3)
    assert checkpoint_problem(path) is None
    (path / "rng_state_1.pth").unlink()
    assert "rank(s) [1] missing" in str(checkpoint_problem(path))
    two = trainer_checkpoint(tmp_path / "two", 1, ranks=2)
    (two / "rng_state_1.pth").unlink()  # per-rank files only come from 2+ processes
    assert "RNG state of rank 0 only" in str(checkpoint_problem(two))


def test_deepspeed_checkpoint_needs_its_tag_dir_and_every_ranks_parts(tmp_path: Path) -> None:
    path = deepspeed_checkpoint(tmp_path, 2, ranks=2)
    assert checkpoint_problem(path) is None
    (path / "model.safetensors").unlink()  # without 16-bit gathering the weights are in global_step2/ only
    assert checkpoint_problem(path) is None
    fresh = tmp_path / "fresh"
    cases = {
        "no latest": (lambda p: (p / "latest").unlink(), "without a readable 'latest' tag"),
        "bad tag": (lambda p: (p / "latest").write_text("global_step9"), "names 'global_step9'"),
        "rank 1 optim": (lambda p: (p / "global_step2" / "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt").unlink(),
                         "different numbers of ranks"),
        "rank 0 model": (lambda p: (p / "global_step2" / "zero_pp_rank_0_mp_rank_00_model_states.pt").unlink(),
                         "model states of model-parallel rank 0: rank(s) [0] missing"),
        "no optim": (lambda p: [f.unlink() for f in (p / "global_step2").glob("*optim_states.pt")],
                     "no optimizer states"),
        "torn optim": (lambda p: truncate(p / "global_step2" / "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt"),
                       "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt is not a whole torch file"),
        "rng rank": (lambda p: (p / "rng_state_1.pth").unlink(), "RNG state of rank 0 only"),
        "no rng": (lambda p: [f.unlink() for f in p.glob("rng_state_*.pth")], "no RNG state"),
    }
    for name, (tear, reason) in cases.items():
        shutil.rmtree(fresh, ignore_errors=True)
        torn = deepspeed_checkpoint(fresh, 2, ranks=2)
        tear(torn)
        assert reason in str(checkpoint_problem(torn)), (name, checkpoint_problem(torn))
    shutil.rmtree(fresh)
    torn = deepspeed_checkpoint(fresh, 2, ranks=3)
    (torn / "rng_state_2.pth").unlink()  # the rank count is known here: the ZeRO partitions say 3
    assert "RNG state of 2 ranks, DeepSpeed states of 3" in str(checkpoint_problem(torn))


def test_zero0_deepspeed_checkpoint_keeps_the_optimizer_in_its_model_states(tmp_path: Path) -> None:
    path = trainer_checkpoint(tmp_path, 1)
    (path / "optimizer.pt").unlink()
    (path / "global_step1").mkdir()
    torch.save({"module": None, "optimizer": {}}, path / "global_step1" / "mp_rank_00_model_states.pt")
    (path / "latest").write_text("global_step1")
    assert checkpoint_problem(path) is None
    (path / "global_step1" / "mp_rank_00_model_states.pt").unlink()
    assert "holds no model states" in str(checkpoint_problem(path))


def test_the_runner_resumes_from_the_newest_complete_one_or_refuses_a_named_torn_one(tmp_path: Path, capsys) -> None:
    from pgrpo.config import ConfigError
    from pgrpo.train.config import load_train_config
    from pgrpo.train.runner import _resume_checkpoint

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "tiny-cpu.yaml"
    trainer_checkpoint(tmp_path, 1)
    (trainer_checkpoint(tmp_path, 2) / "trainer_state.json").unlink()
    auto = load_train_config(recipe, [f"output_dir={tmp_path}"])
    assert _resume_checkpoint(auto, tmp_path, False) == str(tmp_path / "checkpoint-1")
    err = capsys.readouterr().err
    assert f"skipping incomplete checkpoint {tmp_path / 'checkpoint-2'}: no trainer_state.json" in err
    named = load_train_config(recipe, [f"output_dir={tmp_path}", f"resume={tmp_path / 'checkpoint-2'}"])
    with pytest.raises(ConfigError, match="checkpoint-2 is not a complete checkpoint: no trainer_state.json"):
        _resume_checkpoint(named, tmp_path, False)
    named = load_train_config(recipe, [f"output_dir={tmp_path}", f"resume={tmp_path / 'checkpoint-1'}"])
    assert _resume_checkpoint(named, tmp_path, False) == str(tmp_path / "checkpoint-1")
    (tmp_path / "checkpoint-1" / "rng_state.pth").unlink()
    assert _resume_checkpoint(auto, tmp_path, False) is None
    assert "no complete checkpoint: training starts at step 0" in capsys.readouterr().err
    never = load_train_config(recipe, [f"output_dir={tmp_path}", "resume=never"])
    assert _resume_checkpoint(never, tmp_path, False) is None
