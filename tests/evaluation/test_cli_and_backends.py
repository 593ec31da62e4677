"""`pgrpo evaluate` argument handling and the vllm backend's missing-install error."""

from __future__ import annotations

import importlib.util

import pytest

from pgrpo.cli import build_parser, main
from pgrpo.errors import PgrpoError
from pgrpo.evaluation.runner import EvalConfig


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_backend_missing_install_names_the_extra():
    import pgrpo.llm.vllm_backend  # noqa: F401 - registers "vllm"
    from pgrpo.llm import BackendError, make_backend

    with pytest.raises(BackendError, match=r"pip install pgrpo\[vllm\]"):
        make_backend("vllm", "some/model")


def test_evaluate_command_is_registered():
    parser = build_parser()
    args = parser.parse_args(["evaluate", "--out", "x", "--benchmarks", "humaneval,lcb", "--n", "10",
                              "--temperature", "0.8", "--lcb-window", "2024-08-01:2025-01-31"])
    config = EvalConfig.from_args(args, model="m")
    assert config.n == 10 and config.benchmarks == ["humaneval", "lcb"] and config.prompt_style == "pgrpo"
    assert [(str(w.start), str(w.end)) for w in config.lcb_windows] == [("2024-08-01", "2025-01-31")]


@pytest.mark.parametrize(("argv", "message"), [
    (["--benchmarks", "humaneval"], "--model is required"),
    (["--model", "m", "--benchmarks", "nope"], "unknown benchmark 'nope'"),
    (["--model", "m", "--data", "lcb"], "NAME=PATH"),
    (["--model", "m", "--lcb-window", "2024"], "--lcb-window"),
    (["--model", "m", "--k", "1,x"], "--k"),
    (["--model", "m", "--backend", "nope", "--limit", "1"], "unknown chat backend 'nope'"),
    (["--model", "m", "--prompt", "nope"], "unknown prompt style 'nope'; known: pgrpo, plain, toy"),
])
def test_user_errors_exit_2_with_a_message(tmp_path, capsys, argv, message):
    assert main(["evaluate", "--out", str(tmp_path / "o"), "--no-progress", *argv]) == 2
    assert message in capsys.readouterr().err


def test_every_registered_prompt_style_is_accepted():
    from pgrpo.evaluation.runner import EvalConfig

    for style in ("pgrpo", "plain", "toy"):
        assert EvalConfig(benchmarks=["humaneval"], out_dir="o", model="m", prompt_style=style).prompt_style == style


def test_config_validation():
    with pytest.raises(PgrpoError, match="twice"):
        EvalConfig(benchmarks=["humaneval", "humaneval"], out_dir="x", model="m")
    with pytest.raises(PgrpoError, match="LiveCodeBench options"):
        EvalConfig(benchmarks=["lcb"], out_dir="x", model="m", lcb_options={"version": "v6"})
    with pytest.raises(PgrpoError, match="--n: must be >= 1, got 0"):
        EvalConfig(benchmarks=["lcb"], out_dir="x", model="m", n=0)
    with pytest.raises(PgrpoError, match="--model is required unless --rescore"):
        EvalConfig(benchmarks=["lcb"], out_dir="x")
