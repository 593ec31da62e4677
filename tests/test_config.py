"""pgrpo.config: YAML recipes + dotted overrides into config models, errors naming file, line and key."""

from __future__ import annotations

import argparse
from typing import Annotated, Literal

import pytest
from pydantic import Field

from pgrpo.config import (
    KEY_VALUES,
    KEY_YAML_VALUES,
    ConfigError,
    ConfigModel,
    Flag,
    OptionsModel,
    apply_overrides,
    load_config,
    parse_override,
)


class Inner(ConfigModel):
    mode: Literal["posterior", "additive", "outcome"] = "posterior"
    weight: float = Field(1.0, ge=0)
    path: str | None = None


class Outer(ConfigModel):
    name: str
    steps: int = 10
    flag: bool = False
    tags: list[str] = Field(default_factory=list)
    inner: Inner = Field(default_factory=Inner)  # type: ignore[arg-type]  # pydantic fills Inner's defaults


def write(tmp_path, text):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_recipe_and_overrides_build_nested_dataclasses(tmp_path):
    path = write(tmp_path, "name: run\nsteps: 3\ninner:\n  mode: additive\n")
    cfg = load_config(Outer, path, ["inner.weight=0.5", "tags=[a, b]", "flag=true"])
    assert cfg == Outer(name="run", steps=3, flag=True, tags=["a", "b"], inner=Inner(mode="additive", weight=0.5))


def test_int_is_accepted_for_float_but_not_bool_for_int(tmp_path):
    assert load_config(Outer, None, ["name=x", "inner.weight=2"]).inner.weight == 2.0
    with pytest.raises(ConfigError, match=r"steps: expected an integer"):
        load_config(Outer, None, ["name=x", "steps=true"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["name=x", "inner.modee=posterior"], r"inner\.modee: unknown key \(did you mean mode\?\)"),
        (["name=x", "inner.mode=greedy"], r"inner\.mode: must be one of"),
        (["name=x", "steps=many"], r"steps: expected an integer"),
        (["name=x", "inner=3"], r"inner: expected a mapping"),
        ([], r"name: required key is missing"),
        (["name=x", "tags=notalist"], r"tags: expected a list"),
        (["name=x", "inner.weight=-1"], r"inner\.weight: must be >= 0\.0, got -1"),
    ],
)
def test_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Outer, None, overrides)


def test_file_errors_name_the_file_and_line(tmp_path):
    bad = write(tmp_path, "name: run\ninner: [unclosed\n")
    with pytest.raises(ConfigError, match=r"recipe\.yaml:\d+: invalid YAML"):
        load_config(Outer, bad)
    unknown = write(tmp_path, "name: run\nbogus: 1\n")
    with pytest.raises(ConfigError, match=r"recipe\.yaml:2: bogus: unknown key"):
        load_config(Outer, unknown)
    nested = write(tmp_path, "name: run\ninner:\n  weight: 1\n  mode: greedy\n")
    with pytest.raises(ConfigError, match=r"recipe\.yaml:4: inner\.mode: must be one of .*, got 'greedy'"):
        load_config(Outer, nested)
    with pytest.raises(ConfigError, match=r"recipe\.yaml: inner\.mode: must be one of"):  # an override: no line
        load_config(Outer, write(tmp_path, "name: run\ninner:\n  mode: outcome\n"), ["inner.mode=greedy"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Outer, tmp_path / "missing.yaml")


def test_yaml_is_never_executed(tmp_path):
    evil = write(tmp_path, "name: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(ConfigError):
        load_config(Outer, evil)
    assert not (tmp_path / "pwned").exists()


def test_override_parsing():
    assert parse_override("a.b=1") == (["a", "b"], 1)
    assert parse_override("a=null") == (["a"], None)
    assert parse_override("a=x=y") == (["a"], "x=y")
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override("novalue")
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_overrides_do_not_mutate_input():
    data = {"inner": {"mode": "outcome"}}
    apply_overrides(data, ["inner.mode=additive"])
    assert data == {"inner": {"mode": "outcome"}}


class Options(OptionsModel):
    out_dir: Annotated[str, Flag("--out")] = Field(description="output directory (100% resumable)")
    n: int = Field(default=1, ge=1)
    rate: float | None = None
    progress: Annotated[bool, Flag("--no-progress")] = True
    tags: Annotated[list[str], Flag("--tag", repeat=True)] = Field(default_factory=list)
    dtype: Annotated[str | None, Flag(choices=("float32", "bfloat16"))] = None
    budget: Annotated[int, Flag("the budget", cli=False)] = Field(default=8, ge=1)


def options_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t")
    Options.add_arguments(parser)
    return parser


def test_options_flags_come_from_the_model():
    parser = options_parser()
    args = parser.parse_args(["--out", "o", "--n", "3", "--no-progress", "--tag", "a", "--tag", "b"])
    assert vars(args) == {"out_dir": "o", "n": 3, "progress": False, "tags": ["a", "b"]}  # no defaults
    expected = Options(out_dir="o", n=3, progress=False, tags=["a", "b"], budget=4)
    assert Options.from_args(args, budget=4) == expected
    assert Options.from_args(parser.parse_args(["--out", "o"])) == Options(out_dir="o")
    text = parser.format_help()
    assert "--out OUT" in text and "100% resumable" in text and "--tag TAG" in text
    assert "--rate RATE" in text and "{float32,bfloat16}" in text
    assert "--budget" not in text


@pytest.mark.parametrize("argv", [[], ["--out", "o", "--n", "x"], ["--out", "o", "--dtype", "int8"]])
def test_options_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit):
        options_parser().parse_args(argv)
    assert "usage: t" in capsys.readouterr().err


def test_options_errors_name_the_flag():
    with pytest.raises(ConfigError, match=r"^--n: must be >= 1, got 0$"):
        Options.from_args(options_parser().parse_args(["--out", "o", "--n", "0"]))
    with pytest.raises(ConfigError, match=r"^the budget: must be >= 1, got 0$"):
        Options(out_dir="o", budget=0)


def test_an_undeclared_bool_flag_says_what_it_does():
    """A bool that defaults to true gets `--no-<field>` (never a `--field` that turns it off)."""

    class Switches(OptionsModel):
        color: bool = True
        verbose: bool = False

    parser = argparse.ArgumentParser(prog="t")
    Switches.add_arguments(parser)
    given = parser.parse_args(["--no-color", "--verbose"])
    assert Switches.from_args(given) == Switches(color=False, verbose=True)
    assert Switches.from_args(parser.parse_args([])) == Switches()
    with pytest.raises(SystemExit):
        parser.parse_args(["--color"])


def test_key_value_flags_become_mappings_and_name_a_bad_item():
    class KeyValues(OptionsModel):
        plain: Annotated[dict[str, str], KEY_VALUES] = Field(default_factory=dict)
        parsed: Annotated[dict[str, object], KEY_YAML_VALUES] = Field(default_factory=dict)

    def given(**flags: list[str]) -> KeyValues:  # the lists a repeatable flag collects
        return KeyValues.from_args(argparse.Namespace(**flags))

    got = given(plain=["a=1", " b = x=y"], parsed=["n=4", "s=", "l=[1, 2]"])
    assert got == KeyValues(plain={"a": "1", "b": " x=y"}, parsed={"n": 4, "s": "", "l": [1, 2]})
    assert KeyValues(plain={"k": "v"}).plain == {"k": "v"}  # a mapping given in Python stays as it is
    for bad in (["novalue"], ["=v"]):
        with pytest.raises(ConfigError, match=r"^--plain: '=?\w*': expected KEY=VALUE$"):
            given(plain=bad)
    with pytest.raises(ConfigError, match=r"^--parsed: l='\[1': cannot parse value"):
        given(parsed=["l=[1"])
