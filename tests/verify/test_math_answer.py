"""Math answer extraction and equivalence, including calls from worker threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import pgrpo.verify as math_answer
from pgrpo.parsing.response import extract_boxed
from pgrpo.verify import answers_match, normalize_answer


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so \\boxed{42}.", "42"),
        ("first \\boxed{1} then \\boxed{2}", "2"),
        ("\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{1}{\\sqrt{2}}"),
        ("\\boxed{ {a}^{2} + b }", "{a}^{2} + b"),
        ("\\fbox{x^{2}}", "x^{2}"),
        ("\\boxed{1} and finally \\fbox{7}", "7"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("the answer is \\boxed 5.", "5"),
        ("$\\boxed{\\text{(B)}}$", "\\text{(B)}"),
    ],
)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


@pytest.mark.parametrize("text", ["no box here", "\\boxed{1 + {2}", "\\boxedfoo{3}", ""])
def test_extract_boxed_none(text):
    assert extract_boxed(text) is None


def test_normalize_answer():
    assert normalize_answer("$\\dfrac{1}{2}$.") == "\\frac{1}{2}"
    assert normalize_answer("\\left( 1, 2 \\right)") == "(1,2)"
    assert normalize_answer("\\text{Yes}") == "yes"
    assert normalize_answer("so \\boxed{90^\\circ}") == "90"


@pytest.mark.parametrize(
    "prediction, gold",
    [
        ("1/2", "\\frac{1}{2}"),
        ("0.5", "\\frac{1}{2}"),
        ("\\dfrac{1}{2}", "0.5"),
        ("\\frac{2}{4}", "\\tfrac12"),
        ("Therefore the answer is $\\boxed{\\dfrac{1}{2}}$.", "\\frac{1}{2}"),
        ("\\boxed{12}", "12"),
        ("\\sqrt{8}", "2\\sqrt{2}"),
        ("\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2"),
        ("10^{3}", "1000"),
        ("x^2+2x+1", "(x+1)^2"),
        ("\\{1,2\\}", "\\{2,1\\}"),
        ("[0, 1)", "[0,1)"),
        ("(-\\infty, 3]", "(-\\infty,3]"),
        ("The answer is 5.", "5"),
        ("\\text{no solution}", "No Solution"),
        ("50\\%", "50"),
    ],
)
def test_equivalent_answers_match(prediction, gold):
    assert answers_match(prediction, gold)


@pytest.mark.parametrize(
    "prediction, gold",
    [
        ("3", "4"),
        ("\\frac{1}{3}", "0.33"),
        ("[0,1]", "(0,1)"),
        ("\\boxed{6}", "5"),
        ("first \\boxed{5} then corrected \\boxed{6}", "5"),
        ("\\pi", "3.14"),
        ("x^2", "x^3"),
        ("", "1"),
        ("1", ""),
        ("\\text{yes}", "no"),
    ],
)
def test_wrong_answers_do_not_match(prediction, gold):
    assert not answers_match(prediction, gold)


def test_answers_match_from_worker_threads():
    # math-verify's own timeouts use signal.alarm and raise off the main thread.
    results: dict[str, bool] = {}

    def work() -> None:
        results["half"] = answers_match("\\dfrac{1}{2}", "0.5")
        results["wrong"] = answers_match("\\frac{1}{3}", "0.5")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert results == {"half": True, "wrong": False}
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(answers_match, ["2/4", "3"], ["\\frac{1}{2}", "\\frac{1}{2}"])) == [True, False]


def test_worker_thread_deadline_gives_up(monkeypatch):
    release = threading.Event()

    def stuck(prediction, gold, timeout):
        release.wait(10)
        return True

    monkeypatch.setattr(math_answer, "_verify", stuck)
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(answers_match("1", "2", timeout_s=0.2)))
    thread.start()
    thread.join(5)
    release.set()
    assert results == [False]


def test_overlong_answers_skip_symbolic(monkeypatch):
    def fail(*args):
        raise AssertionError("sympy must not see overlong answers")

    monkeypatch.setattr(math_answer, "_verify", fail)
    assert not answers_match("1+" * 2000 + "1", "4001")
