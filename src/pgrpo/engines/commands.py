"""`pgrpo train` (either trainer), `pgrpo data export --format verl` and `pgrpo reward serve`.

`pgrpo train` lives here, above `pgrpo.train`, since `trainer: async` runs `pgrpo.engines.trl_async`.
"""

from __future__ import annotations

import argparse

from pgrpo.commands import Runner, command

EXPORT_FORMATS = ("verl",)


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
                    from pgrpo.train.grpo_fields import async_plan

                    print(async_plan(config, kwargs))
                else:
                    print(reward_budget(config, kwargs).describe())
                print(f"{args.config}: OK")
            elif config.trainer == "async":  # TRL's AsyncGRPOTrainer
                from pgrpo.engines.trl_async import run_async_training

                run_async_training(config)
            else:
                from pgrpo.train.runner import run_training

                run_training(config)
        except ConfigError as exc:
            raise ConfigError(f"{args.config}: {exc}") from exc
        return 0

    return run


@command("data export", help="Write a recipe's problems in another engine's dataset format (verl parquet)")
def configure_export(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--format", required=True, choices=EXPORT_FORMATS, help="the engine's format")
    parser.add_argument("--recipe", required=True, help="a `pgrpo train` recipe (task, data, reward, sandbox)")
    parser.add_argument("--out", required=True, help="directory for <split>.parquet, problems.jsonl, reward_recipe.yaml")
    parser.add_argument("--split", default="train", help="the parquet's name and extra_info.split (default: train)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted recipe overrides")

    def run(args: argparse.Namespace) -> int:
        from pgrpo.config import ConfigError
        from pgrpo.engines.verl import export_verl
        from pgrpo.train.config import load_train_config, validate_reward_recipe

        config = load_train_config(args.recipe, args.overrides)
        try:
            validate_reward_recipe(config)
            done = export_verl(config, args.out, split=args.split)
        except ConfigError as exc:
            raise ConfigError(f"{args.recipe}: {exc}") from exc
        print(f"{done.rows} rows -> {done.parquet}; problems {done.problems}; reward recipe {done.recipe}")
        return 0

    return run


@command("reward serve", help="Serve a recipe's whole P-GRPO reward over HTTP (OpenRLHF's POST /get_reward)")
def configure_reward_serve(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--recipe", required=True, help="a `pgrpo train` recipe (task, data, reward, sandbox)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted recipe overrides")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; anything else "
                                                             "requires a token, which OpenRLHF's client cannot send)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8768; 0: a free one)")
    parser.add_argument("--token", default=None, help="shared bearer token (default: env PGRPO_REWARD_TOKEN)")
    parser.add_argument("--tokenizer", default=None, help="the policy's tokenizer, whose special tokens leave the "
                                                          "responses (default: env PGRPO_TOKENIZER, else model.path)")
    parser.add_argument("--timeout-s", type=float, default=None,
                        help="bound of one request's scoring (default 150 s: below OpenRLHF's 180 s client "
                             "timeout): past it, a 502 naming the items and services")

    def run(args: argparse.Namespace) -> int:
        import os

        from pgrpo.engines import PosteriorReward
        from pgrpo.engines.openrlhf import DEFAULT_PORT, DEFAULT_TIMEOUT_S, TOKEN_ENV, check_binding, serve

        token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
        check_binding(args.host, token)
        timeout_s = DEFAULT_TIMEOUT_S if args.timeout_s is None else args.timeout_s
        reward = PosteriorReward(args.recipe, args.overrides, timeout_s=timeout_s)
        serve(reward, host=args.host, port=DEFAULT_PORT if args.port is None else args.port, token=token,
              tokenizer=args.tokenizer)
        return 0

    return run
