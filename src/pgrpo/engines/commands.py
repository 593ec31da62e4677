"""`pgrpo data export --format verl --recipe RECIPE --out DIR`: thin CLI over `pgrpo.engines.verl_data`."""

from __future__ import annotations

from pgrpo.commands import command

EXPORT_FORMATS = ("verl",)


@command("data export", help="Write a recipe's problems in another engine's dataset format (verl parquet)")
def configure_export(parser):
    parser.add_argument("--format", required=True, choices=EXPORT_FORMATS, help="the engine's format")
    parser.add_argument("--recipe", required=True, help="a `pgrpo train` recipe (task, data, reward, sandbox)")
    parser.add_argument("--out", required=True, help="directory for <split>.parquet, problems.jsonl, reward_recipe.yaml")
    parser.add_argument("--split", default="train", help="the parquet's name and extra_info.split (default: train)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted recipe overrides")

    def run(args) -> int:
        from pgrpo.config import ConfigError
        from pgrpo.engines.verl_data import export_verl
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
