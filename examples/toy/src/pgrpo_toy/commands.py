"""`pgrpo demo` (and `pgrpo demo --study`): the whole Posterior-GRPO pipeline on the toy code world
(see pgrpo_toy.demo and pgrpo_toy.study)."""

from __future__ import annotations

import argparse

from pgrpo.commands import Runner, command


def _seeds(text: str) -> tuple[int, ...]:
    from pgrpo.errors import PgrpoError

    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise PgrpoError(f"--seeds: expected a comma list of integers, got {text!r}") from None
    if not seeds:
        raise PgrpoError("--seeds: give at least one seed")
    return seeds


@command("demo", help="Run the whole pipeline (SFT, OD pairs, RMs, LCB-RB, RL arms, report) on a toy world")
def configure_demo(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--out", default="runs/demo", help="run directory (report.md, report.json, plots)")
    parser.add_argument("--quick", action="store_true", help="CI budget: a few problems and steps per stage")
    parser.add_argument("--study", action="store_true",
                        help="the paired study: RL seeds in stages with a stopping rule fixed in advance, "
                             "paired differences with t-intervals and sign-flip p-values (docs/demo.md)")
    parser.add_argument("--select", action="store_true",
                        help="the selection sweep that chose the demo's settings (RM head, beta, coherence share; "
                             "RL learning rate and steps), on the selection splits only: selection.md")
    parser.add_argument("--world", choices=("weak", "trap", "clean"), default="weak",
                        help="weak (default): demos use a tempting sign shortcut that is sometimes wrong, RL "
                             "rewards weak tests that miss some of its errors, an honest and a blind RM; trap: "
                             "the shortcut with strong tests and the blind RM (a control); clean: no shortcut")
    parser.add_argument("--evaluate-on", choices=("final", "selection"), default="final",
                        help="final: the test split and the reported toy LCB-RB; selection: only the "
                             "selection splits (for choosing settings)")
    parser.add_argument("--seeds", default=None, help="RL seeds, comma list (default 0; not with --study)")
    parser.add_argument("--arms", default=None,
                        help="RL arms, comma list (default: the world's: weak -> outcome,posterior_honest,"
                             "posterior_blind; trap/clean -> outcome,additive,posterior)")
    parser.add_argument("--cache-dir", default=None,
                        help="where the fine-tuned policy is cached (default: $PGRPO_CACHE or ~/.cache/pgrpo, /demo)")
    parser.add_argument("--rl-steps", type=int, default=None, help="override the RL steps per mode")
    parser.add_argument("--jobs", type=int, default=None,
                        help="RL runs in parallel, one thread each (default: 2, one per core; a one-seed demo "
                             "of three arms runs all three at once, which ends sooner than two then one)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")

    def run(args: argparse.Namespace) -> int:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from pgrpo.errors import PgrpoError
        from pgrpo_toy.demo import DemoConfig, quick_config, run_demo

        arms = tuple(m.strip() for m in (args.arms or "").split(",") if m.strip())
        if args.study and args.seeds is not None:
            raise PgrpoError("--seeds: the study's seeds are set by its stopping rule (docs/demo.md); drop --seeds")
        jobs = args.jobs
        if jobs is None:  # a last wave of one run would leave a core idle for a whole run
            one_seed = not (args.study or args.select) and (args.seeds is None or len(_seeds(args.seeds)) == 1)
            jobs = 3 if one_seed and len(arms) in (0, 3) else 2
        kwargs = {"arms": arms, "cache_dir": args.cache_dir, "progress": not args.quiet, "jobs": jobs,
                  "world": args.world, "evaluate_on": args.evaluate_on}
        if args.seeds is not None:
            kwargs["seeds"] = _seeds(args.seeds)
        if args.rl_steps is not None:
            kwargs["rl_steps"] = args.rl_steps
        if not (args.study or args.select or args.quick):
            from pgrpo_toy.demo_config import DEMO_BETAS

            kwargs["comparison_betas"] = DEMO_BETAS
        config = quick_config(args.out, **kwargs) if args.quick else DemoConfig(args.out, **kwargs)
        if args.select:
            from pgrpo_toy.select import run_selection

            if args.study or args.seeds is not None:
                raise PgrpoError("--select: runs its own selection seed; drop --study / --seeds")
            if args.rl_steps is not None:
                raise PgrpoError("--select: the RL step counts are the selection grid's; drop --rl-steps")
            selection = run_selection(config)
            print(f"{args.out}/selection.md")
            print(f"  chosen RM: {selection['chosen_rm']}; chosen RL: {selection['chosen_rl']}")
            return 0
        if args.study:
            from pgrpo_toy.study import run_study

            report = run_study(config)
            print(f"{args.out}/report.md")
            for name, c in report["comparisons"].items():
                if c.get("n_a"):
                    continue
                print(f"  {name}: mean {c['mean']:+.3f}, 95% CI {c['ci95']}, sign-flip p {c['sign_flip_p']:.3f} "
                      f"(K={c['k']})")
            return 0
        report = run_demo(config)
        print(f"{args.out}/report.md")
        for arm, r in report["arms"].items():
            print(f"  {arm}: pass@1 {r['pass_at_1']} (SFT {report['policy']['sft_pass_at_1']}), hidden-trap tasks "
                  f"{r['hidden_pass_at_1']}, false passes {r['false_pass_rate']}, invalid shortcuts "
                  f"{r['invalid_shortcut_rate']}")
        return 0

    return run
