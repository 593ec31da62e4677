"""`pgrpo train --config RECIPE.yaml [key=value ...]`: P-GRPO training on TRL's GRPOTrainer.

Thin: parses arguments, loads and validates the recipe (errors name the key, before any
model loads), then calls pgrpo.train.runner.run_training; `--check` stops after validating and
prints the reward side's worst case (pgrpo.train.reward_budget). Heavy imports happen in run().
"""

from __future__ import annotations

import argparse

from pgrpo.commands import Runner, command


@command("train", help="Train a policy with (Posterior-)GRPO from a YAML recipe")
def configure_train(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--config", required=True, help="recipe YAML (see recipes/)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted overrides, e.g. reward.mode=outcome grpo.max_steps=2")
    parser.add_argument("--check", action="store_true",
                        help="only load and validate the recipe (no model is loaded); print the reward "
                             "side's worst-case time per step against the collective timeout")

    def run(args: argparse.Namespace) -> int:
        from pgrpo.config import ConfigError
        from pgrpo.train.config import load_train_config, validate_train_config

        config = load_train_config(args.config, args.overrides)
        try:
            if args.check:
                from pgrpo.train.reward_budget import reward_budget

                kwargs = validate_train_config(config)
                if config.trainer == "async":
                    from pgrpo.train.async_config import async_plan

                    print(async_plan(config, kwargs).describe())
                else:
                    print(reward_budget(config, kwargs).describe())
                print(f"{args.config}: OK")
                return 0
            if config.trainer == "async":  # TRL's AsyncGRPOTrainer
                from pgrpo.train.async_trainer import run_async_training

                run_async_training(config)
                return 0
            from pgrpo.train.runner import run_training

            run_training(config)
        except ConfigError as exc:
            raise ConfigError(f"{args.config}: {exc}") from exc
        return 0

    return run
