"""The reasoning reward model: manifest, template, pairs, Bradley-Terry training, scoring, evaluation.
The names below are the public API (a plugin uses only these); none of their modules imports torch
or transformers at import time.
"""

from pgrpo.rm.benchmarks import load_benchmark
from pgrpo.rm.config import DataSection, HeadSection, ModelSection, RMTrainConfig, TrainSection
from pgrpo.rm.evaluate import EvaluatorOptions, RewardModelEvaluator, reward_model_evaluator, write_outputs
from pgrpo.rm.evaluate import evaluate as evaluate_benchmark  # the submodule `evaluate` takes the plain name
from pgrpo.rm.manifest import PAIRS_SPEC_FILE, PairsSpec
from pgrpo.rm.metrics import accuracy, grouped_accuracy
from pgrpo.rm.od import side_text
from pgrpo.rm.pairs import PairsConfig, PairsRun
from pgrpo.rm.scoring import RewardScorer, RMItem
from pgrpo.rm.train import train_reward_model

__all__ = ["PAIRS_SPEC_FILE", "DataSection", "EvaluatorOptions", "HeadSection", "ModelSection",
           "PairsConfig", "PairsRun", "PairsSpec", "RMItem", "RMTrainConfig", "RewardModelEvaluator",
           "RewardScorer", "TrainSection", "accuracy", "evaluate_benchmark", "grouped_accuracy",
           "load_benchmark", "reward_model_evaluator", "side_text", "train_reward_model",
           "write_outputs"]
