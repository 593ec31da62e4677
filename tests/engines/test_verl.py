"""verl's OWN reward managers (installed from the registry, CPU) drive `pgrpo.engines.verl`'s hooks on a
DataProto of exported prompts and tokenized responses; every reward equals, item by item, what
`pgrpo train`'s in-process RewardEvaluator gives the same decoded completions, in all three modes:
the legacy per-sample NaiveRewardManager (sync hook), the BatchRewardManager (batch hook) and the
reward-loop NaiveRewardManager (async hook), each loaded through verl's own `get_custom_reward_fn`
from `pkg://pgrpo.engines.verl`; and the example config in recipes/verl/ composes over verl's own.
(The export's round trip, which needs no verl: test_verl_export.py.)

verl is installed without its dependencies (they pin transformers below ours and pull CUDA-only
packages) by scripts/install.sh, so `make test` and CI run these tests (a missing verl fails them
there: PGRPO_REQUIRE_ENGINES); elsewhere, without it, they skip, saying so."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engines.engine_cases import require_engine  # noqa: E402

require_engine("verl", "verl not installed: pip install --no-deps verl==0.9.1 tensordict==0.10.0 "
                                   "&& pip install -e '.[engines]' (recipes/verl/README.md)")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.trainer.ppo.reward import get_custom_reward_fn  # noqa: E402

from engines.engine_cases import MODES, ROOT, batch, reference, write_recipe  # noqa: E402


def hook(name: str, recipe, mode: str):
    """What verl's trainer builds from `reward.custom_reward_function` (its own loader)."""
    config = OmegaConf.create({"reward": {"custom_reward_function": {
        "path": "pkg://pgrpo.engines.verl", "name": name,
        "reward_kwargs": {"recipe": str(recipe), "overrides": [f"reward.mode={mode}"]}}}})
    return get_custom_reward_fn(config)


def data_proto(tokenizer, rows: pd.DataFrame, ids: list[str], texts: list[str]) -> DataProto:
    """A rollout batch as verl's managers receive it: left-padded prompts, right-padded responses."""
    by_id = {r["extra_info"]["task_id"]: r for _, r in rows.iterrows()}
    prompts = [tokenizer.apply_chat_template(list(by_id[t]["prompt"]), add_generation_prompt=True, tokenize=True)
               for t in ids]
    prompts = [p["input_ids"] if isinstance(p, dict) or hasattr(p, "keys") else p for p in prompts]
    responses = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    p_len, r_len, pad = max(map(len, prompts)), max(map(len, responses)), tokenizer.pad_token_id
    prompt_ids = torch.tensor([[pad] * (p_len - len(p)) + p for p in prompts])
    response_ids = torch.tensor([r + [pad] * (r_len - len(r)) for r in responses])
    mask = torch.tensor([[0] * (p_len - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (r_len - len(r))
                         for p, r in zip(prompts, responses)])
    rows_of = [by_id[t] for t in ids]
    return DataProto.from_dict(
        tensors={"prompts": prompt_ids, "responses": response_ids, "attention_mask": mask,
                 "input_ids": torch.cat([prompt_ids, response_ids], dim=1)},
        non_tensors={"data_source": np.array([r["data_source"] for r in rows_of], dtype=object),
                     "reward_model": np.array([dict(r["reward_model"]) for r in rows_of], dtype=object),
                     "extra_info": np.array([dict(r["extra_info"]) for r in rows_of], dtype=object)})


def last_token_rewards(reward_tensor: torch.Tensor, data: DataProto) -> list[float]:
    p_len = data.batch["prompts"].shape[-1]
    lengths = data.batch["attention_mask"][:, p_len:].sum(-1)
    return [float(reward_tensor[i, int(n) - 1]) for i, n in enumerate(lengths)]


@pytest.mark.parametrize("mode", MODES)
def test_verls_reward_managers_give_the_trainers_rewards(mode, exported, tiny_tokenizer):
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager as LoopManager
    from verl.workers.reward_manager.batch import BatchRewardManager
    from verl.workers.reward_manager.naive import NaiveRewardManager

    recipe = exported / "reward_recipe.yaml"
    ids, texts = batch()
    data = data_proto(tiny_tokenizer, pd.read_parquet(exported / "train.parquet"), ids, texts)
    decoded = [tiny_tokenizer.decode(r[:len(tiny_tokenizer(t, add_special_tokens=False)["input_ids"]) + 1],
                                     skip_special_tokens=True) for r, t in zip(data.batch["responses"], texts)]
    assert decoded == texts  # what the managers decode is what the reference scores
    mode_recipe = write_recipe(exported / f"ref-{mode}.yaml", mode, None, data=exported / "problems.jsonl")
    if mode != "outcome":
        import yaml

        reward = yaml.safe_load(recipe.read_text())["reward"]
        mode_recipe = write_recipe(exported / f"ref-{mode}.yaml", mode, reward["rm_url"],
                                   data=exported / "problems.jsonl")
    want = [r.total for r in reference(mode_recipe, ids, texts)]

    naive = NaiveRewardManager(tiny_tokenizer, num_examine=0, compute_score=hook("compute_score_sync", recipe, mode))
    out: Any = naive(data, return_dict=True)  # the dict form (return_dict=True)
    assert last_token_rewards(out["reward_tensor"], data) == pytest.approx(want, abs=1e-5)
    assert out["reward_extra_info"]["outcome"] == [1.0, 0.0, 0.0] * 4
    assert out["reward_extra_info"]["gated"] == ([0.0, 1.0, 1.0] * 4 if mode == "posterior" else [0.0] * 12)

    batched = BatchRewardManager(tiny_tokenizer, num_examine=0, compute_score=hook("compute_score_batch", recipe, mode))
    assert last_token_rewards(batched(data), data) == pytest.approx(want, abs=1e-5)  # type: ignore[arg-type]

    async def loop_rewards() -> list[float]:
        manager = LoopManager(OmegaConf.create({}), tiny_tokenizer, hook("compute_score", recipe, mode))
        assert manager.is_async_reward_score  # our async hook is awaited on verl's loop
        results = await asyncio.gather(*(manager.run_single(data[i:i + 1]) for i in range(len(data))))
        return [r["reward_score"] for r in results]

    assert asyncio.run(loop_rewards()) == pytest.approx(want, abs=1e-5)


def test_the_example_verl_config_composes_and_its_hook_scores(exported):
    """recipes/verl/grpo-pgrpo.yaml composed by Hydra over verl's own ppo_trainer config."""
    from hydra import compose, initialize_config_dir

    from pgrpo.engines.verl import compute_score_sync

    with initialize_config_dir(config_dir=str(ROOT / "recipes" / "verl"), version_base=None):
        cfg = compose(config_name="grpo-pgrpo", overrides=[
            f"reward.custom_reward_function.reward_kwargs.recipe={exported / 'reward_recipe.yaml'}",
            "+reward.custom_reward_function.reward_kwargs.overrides=['reward.mode=outcome']"])
    assert cfg.algorithm.adv_estimator == "grpo" and cfg.data.prompt_key == "prompt"
    score = get_custom_reward_fn(cfg)
    assert score is not None
    ids, texts = batch()
    got = asyncio.run(score(data_source="pgrpo/code", solution_str=texts[0], ground_truth=ids[0],
                            extra_info={"task_id": ids[0]}))
    assert got["score"] == 2.0 and got["outcome"] == 1.0  # format + outcome of a passing answer
    assert compute_score_sync("pgrpo/code", texts[1], ids[1], None, recipe=str(exported / "reward_recipe.yaml"),
                              overrides=["reward.mode=outcome"])["score"] == 1.0  # formatted, failing
