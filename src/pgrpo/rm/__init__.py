"""The reasoning reward model: manifest, template, pairs, Bradley-Terry training, scoring, evaluation.

Submodules: manifest (what an RM is: `pgrpo_rm.json`, read by every consumer), template (the one
RM input layout + truncation), data (pairs JSONL), od + pairs (`pgrpo rm pairs`), fitting + train
+ implicit_train (`pgrpo rm train`), scoring (RewardScorer), metrics, benchmarks and evaluate
(`pgrpo rm eval`). Import them directly; this package imports nothing heavy.
"""
