"""The reasoning reward model: manifest, template, pairs, Bradley-Terry training, scoring, evaluation.

Submodules: manifest (what an RM is: `pgrpo_rm.json`, read by every consumer), template (the one
RM input layout + truncation), data (pairs JSONL), od + pairs (`pgrpo rm pairs`), fitting + train
+ implicit_train (`pgrpo rm train`), scoring (RewardScorer), metrics, benchmarks and evaluate
(`pgrpo rm eval`). The names below are the public API (a plugin uses only
these); each is imported from its submodule on first use, so this package imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # "X as X": re-exported for type checkers; at run time __getattr__ imports X on first use
    from pgrpo.rm.benchmarks import load_benchmark as load_benchmark
    from pgrpo.rm.config import DataSection as DataSection
    from pgrpo.rm.config import HeadSection as HeadSection
    from pgrpo.rm.config import ModelSection as ModelSection
    from pgrpo.rm.config import RMTrainConfig as RMTrainConfig
    from pgrpo.rm.config import TrainSection as TrainSection
    from pgrpo.rm.evaluate import EvaluatorOptions as EvaluatorOptions
    from pgrpo.rm.evaluate import RewardModelEvaluator as RewardModelEvaluator
    from pgrpo.rm.evaluate import evaluate as evaluate_benchmark
    from pgrpo.rm.evaluate import reward_model_evaluator as reward_model_evaluator
    from pgrpo.rm.evaluate import write_outputs as write_outputs
    from pgrpo.rm.manifest import PAIRS_SPEC_FILE as PAIRS_SPEC_FILE
    from pgrpo.rm.manifest import PairsSpec as PairsSpec
    from pgrpo.rm.metrics import accuracy as accuracy
    from pgrpo.rm.metrics import grouped_accuracy as grouped_accuracy
    from pgrpo.rm.od import side_text as side_text
    from pgrpo.rm.pairs import PairsConfig as PairsConfig
    from pgrpo.rm.pairs import PairsRun as PairsRun
    from pgrpo.rm.scoring import RewardScorer as RewardScorer
    from pgrpo.rm.scoring import RMItem as RMItem
    from pgrpo.rm.train import train_reward_model as train_reward_model

_BENCHMARKS = {"load_benchmark"}
_CONFIG = {"DataSection", "HeadSection", "ModelSection", "RMTrainConfig", "TrainSection"}
_EVALUATE = {"EvaluatorOptions", "RewardModelEvaluator", "reward_model_evaluator", "write_outputs"}
_MANIFEST = {"PAIRS_SPEC_FILE", "PairsSpec"}
_METRICS = {"accuracy", "grouped_accuracy"}
_OD = {"side_text"}
_PAIRS = {"PairsConfig", "PairsRun"}
_SCORING = {"RMItem", "RewardScorer"}
_TRAIN = {"train_reward_model"}

# `evaluate_benchmark` is pgrpo.rm.evaluate.evaluate: the submodule `evaluate` takes the plain name.
__all__ = ["DataSection", "EvaluatorOptions", "HeadSection", "ModelSection", "PAIRS_SPEC_FILE",
           "PairsConfig", "PairsRun", "PairsSpec", "RMItem", "RMTrainConfig", "RewardModelEvaluator",
           "RewardScorer", "TrainSection", "accuracy", "evaluate_benchmark", "grouped_accuracy",
           "load_benchmark", "reward_model_evaluator", "side_text", "train_reward_model",
           "write_outputs"]


def __getattr__(name: str) -> Any:  # noqa: C901 - one branch per submodule, each a plain import
    if name == "evaluate_benchmark":
        from pgrpo.rm.evaluate import evaluate

        return evaluate
    if name in _BENCHMARKS:
        import pgrpo.rm.benchmarks

        return getattr(pgrpo.rm.benchmarks, name)
    elif name in _CONFIG:
        import pgrpo.rm.config

        return getattr(pgrpo.rm.config, name)
    elif name in _EVALUATE:
        import pgrpo.rm.evaluate

        return getattr(pgrpo.rm.evaluate, name)
    elif name in _MANIFEST:
        import pgrpo.rm.manifest

        return getattr(pgrpo.rm.manifest, name)
    elif name in _METRICS:
        import pgrpo.rm.metrics

        return getattr(pgrpo.rm.metrics, name)
    elif name in _OD:
        import pgrpo.rm.od

        return getattr(pgrpo.rm.od, name)
    elif name in _PAIRS:
        import pgrpo.rm.pairs

        return getattr(pgrpo.rm.pairs, name)
    elif name in _SCORING:
        import pgrpo.rm.scoring

        return getattr(pgrpo.rm.scoring, name)
    elif name in _TRAIN:
        import pgrpo.rm.train

        return getattr(pgrpo.rm.train, name)
    else:
        raise AttributeError(f"module 'pgrpo.rm' has no attribute {name!r}")
