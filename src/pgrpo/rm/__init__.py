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
    from pgrpo.rm.benchmarks import load_benchmark  # noqa: F401 - exported lazily (__getattr__)
    from pgrpo.rm.config import DataSection, HeadSection, ModelSection, RMTrainConfig, TrainSection  # noqa: F401 - exported lazily (__getattr__)
    from pgrpo.rm.evaluate import (  # noqa: F401 - exported lazily (__getattr__)
        EvaluatorOptions,
        RewardModelEvaluator,
        reward_model_evaluator,
        write_outputs,
    )
    from pgrpo.rm.evaluate import evaluate as evaluate_benchmark  # noqa: F401 - exported lazily (__getattr__)
    from pgrpo.rm.manifest import PAIRS_SPEC_FILE, PairsSpec  # noqa: F401 - exported lazily (__getattr__)
    from pgrpo.rm.metrics import accuracy, grouped_accuracy  # noqa: F401 - exported lazily (__getattr__)
    from pgrpo.rm.od import side_text  # noqa: F401 - exported lazily (__getattr__)
    from pgrpo.rm.pairs import PairsConfig, PairsRun  # noqa: F401 - exported lazily (__getattr__)
    from pgrpo.rm.scoring import RewardScorer, RMItem  # noqa: F401 - exported lazily (__getattr__)
    from pgrpo.rm.train import train_reward_model  # noqa: F401 - exported lazily (__getattr__)

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
__all__ = sorted(_BENCHMARKS | _CONFIG | _EVALUATE | _MANIFEST | _METRICS | _OD | _PAIRS | _SCORING | _TRAIN
                 | {"evaluate_benchmark"})


def __getattr__(name: str) -> Any:  # noqa: C901 - one branch per submodule, each a plain import
    if name == "evaluate_benchmark":
        from pgrpo.rm.evaluate import evaluate

        return evaluate
    if name in _BENCHMARKS:
        import pgrpo.rm.benchmarks as module
    elif name in _CONFIG:
        import pgrpo.rm.config as module
    elif name in _EVALUATE:
        import pgrpo.rm.evaluate as module
    elif name in _MANIFEST:
        import pgrpo.rm.manifest as module
    elif name in _METRICS:
        import pgrpo.rm.metrics as module
    elif name in _OD:
        import pgrpo.rm.od as module
    elif name in _PAIRS:
        import pgrpo.rm.pairs as module
    elif name in _SCORING:
        import pgrpo.rm.scoring as module
    elif name in _TRAIN:
        import pgrpo.rm.train as module
    else:
        raise AttributeError(f"module 'pgrpo.rm' has no attribute {name!r}")
    return getattr(module, name)
