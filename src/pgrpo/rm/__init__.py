"""The reasoning reward model: template, pairs, Bradley-Terry training, scoring, evaluation.

Submodules: template (the one RM input layout + truncation), data (pairs JSONL), train
(`pgrpo rm train`), scoring (RewardScorer, the thinking reward), metrics, benchmarks and
evaluate (`pgrpo rm eval`). Import them directly; this package imports nothing heavy.
"""
