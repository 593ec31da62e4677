"""The test-kind specs (pgrpo.sandbox.kinds): one per TestKind, together holding every `Tests` field,
each sending the worker only fields its harness reads (harness.JobSpec's), and one limits rule."""

from __future__ import annotations

import dataclasses

from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.sandbox.kinds import SPECS, effective_limits, job_limits
from pgrpo.sandbox.settings import SandboxConfig
from pgrpo.sandbox.testrun import JobSpec


def test_one_spec_per_kind_and_together_they_hold_every_tests_field():
    assert set(SPECS) == set(TestKind) and all(kind is spec.kind for kind, spec in SPECS.items())
    held = {name for spec in SPECS.values() for name in spec.holds}
    assert held == {f.name for f in dataclasses.fields(Tests)} - {"kind"}


def test_each_kinds_message_fields_are_jobspec_fields():
    jobspec = {f.name for f in dataclasses.fields(JobSpec)}
    for kind, spec in SPECS.items():
        fields = spec.fields(Problem("t", "s", Tests(kind)), None, False)
        assert fields and set(fields) <= jobspec, kind


def test_only_a_kind_with_limits_of_its_own_changes_a_jobs_limits():
    config = SandboxConfig(workers=1)
    for kind, spec in SPECS.items():
        assert (effective_limits(config, kind) != job_limits(config)) == (spec.limits is not None), kind


def test_a_recipe_writing_the_defaults_still_gets_a_kinds_own_limits(tmp_path):
    """Only flags (and `given`) are explicit: the shipped recipes write the defaults out, and their
    BigCodeBench jobs must get the benchmark's limits in training as `pgrpo evaluate` gives them."""
    import argparse

    from pgrpo.config import load_config
    from pgrpo.sandbox.cli_args import add_sandbox_arguments, sandbox_config_from_args

    recipe = tmp_path / "sandbox.yaml"
    recipe.write_text("timeout_per_test_s: 4.0\ntimeout_per_program_s: 30.0\nmemory_mb: 2048\nworkers: 1\n")
    from_recipe = load_config(SandboxConfig, recipe)
    own = SPECS[TestKind.UNITTEST].limits
    assert own is not None
    limits = effective_limits(from_recipe, TestKind.UNITTEST)
    assert limits["timeout_per_program_s"] == own.timeout_s  # written at its default: the kind's
    assert limits["memory_mb"] == 2048  # changed from its default: kept

    parser = argparse.ArgumentParser()
    add_sandbox_arguments(parser)
    from_flags = sandbox_config_from_args(parser.parse_args(["--sandbox-timeout-per-program-s", "30"]))
    assert from_flags.explicit == {"timeout_per_program_s"}
    assert effective_limits(from_flags, TestKind.UNITTEST)["timeout_per_program_s"] == 30.0  # a flag: kept
    assert from_flags.model_copy(update={"workers": 2}).explicit == from_flags.explicit
