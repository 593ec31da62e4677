"""`pgrpo demo`: run the whole Posterior-GRPO pipeline on the toy code world (see pgrpo.toy.demo)."""

from __future__ import annotations

from pgrpo.commands import command


def _seeds(text: str) -> tuple[int, ...]:
    from pgrpo.errors import PgrpoError

    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise PgrpoError(f"--seeds: expected a comma list of integers, got {text!r}") from None
    if not seeds:
        raise PgrpoError("--seeds: give at least one seed")
    return seeds


@command("demo", help="Run the whole pipeline (SFT, OD pairs, RM, LCB-RB, RL in 3 modes, report) on a toy world")
def configure_demo(parser):
    parser.add_argument("--out", default="runs/demo", help="run directory (report.md, report.json, plots)")
    parser.add_argument("--quick", action="store_true", help="CI budget: a few problems and steps per stage")
    parser.add_argument("--seeds", default="0", help="RL seeds, comma list (e.g. 0,1,2 for mean and spread)")
    parser.add_argument("--modes", default="outcome,additive,posterior", help="reward modes to compare")
    parser.add_argument("--cache-dir", default=None,
                        help="where the fine-tuned policy is cached (default: $PGRPO_CACHE or ~/.cache/pgrpo, /demo)")
    parser.add_argument("--rl-steps", type=int, default=None, help="override the RL steps per mode")
    parser.add_argument("--jobs", type=int, default=2, help="RL runs in parallel (default 2: one per core)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")

    def run(args) -> int:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from pgrpo.errors import PgrpoError
        from pgrpo.toy.demo import MODES, DemoConfig, quick_config, run_demo

        modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
        unknown = [m for m in modes if m not in MODES]
        if unknown or not modes:
            raise PgrpoError(f"--modes: unknown {unknown}; known: {list(MODES)}")
        kwargs = {"seeds": _seeds(args.seeds), "modes": modes, "cache_dir": args.cache_dir,
                  "progress": not args.quiet, "jobs": args.jobs}
        if args.rl_steps is not None:
            kwargs["rl_steps"] = args.rl_steps
        config = quick_config(args.out, **kwargs) if args.quick else DemoConfig(args.out, **kwargs)
        report = run_demo(config)
        print(f"{args.out}/report.md")
        for mode, r in report["rl"].items():
            print(f"  {mode}: held-out pass@1 {r['pass_at_1']} (SFT {report['policy']['sft_pass_at_1']}), "
                  f"oracle quality {r['reasoning_quality']}, mean R_t {r['mean_thinking_reward']}")
        return 0

    return run
