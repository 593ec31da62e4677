"""The test-kind specs (pgrpo.sandbox.kinds): one per TestKind, together holding every `Tests` field,
each sending the worker only fields its harness reads (harness.JobSpec's), and one limits rule."""

from __future__ import annotations

import dataclasses

from pgrpo.data.problem import Problem, TestKind, Tests
from pgrpo.sandbox.kinds import SPECS, effective_limits, job_limits
from pgrpo.sandbox.testrun import JobSpec
from pgrpo.sandbox.types import SandboxConfig


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
