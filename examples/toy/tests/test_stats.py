"""The study's statistics against hand computations written out here."""

from __future__ import annotations

import math
import statistics

import pytest

from pgrpo.errors import PgrpoError
from pgrpo_toy.stats import StoppingRule, paired_comparison, sign_flip_p


def test_paired_comparison_by_hand():
    a = [0.6, 0.7, 0.8, 0.4, 0.5]
    b = [0.5, 0.5, 0.5, 0.5, 0.5]
    c = paired_comparison(a, b)
    # diffs 0.1 0.2 0.3 -0.1 0.0; mean 0.5 / 5 = 0.1
    assert c.diffs == pytest.approx((0.1, 0.2, 0.3, -0.1, 0.0))
    assert c.mean == pytest.approx(0.1)
    # deviations 0, .1, .2, -.2, -.1 -> squares sum 0.10; variance 0.10 / 4 = 0.025
    sd = math.sqrt(0.025)
    assert c.sd == pytest.approx(sd, abs=1e-6)
    se = sd / math.sqrt(5)  # = sqrt(0.005) = 0.0707107
    # t_{0.975,4} = 2.776445: half-width 2.776445 * 0.0707107 = 0.196324
    assert c.ci95 == pytest.approx((0.1 - 0.196324, 0.1 + 0.196324), abs=1e-5)
    # MDE at the decision alpha 0.025 (two-sided) and 80% power: (t_{0.9875,4} + t_{0.80,4}) * se
    # = (3.495406 + 0.940965) * 0.0707107 = 0.313699 (t_{0.9875,4} = 3.495 in printed tables)
    assert c.mde == pytest.approx((3.495406 + 0.940965) * se, abs=1e-5)
    assert c.mde == pytest.approx(0.31370, abs=1e-4)
    assert (c.mde_alpha, c.mde_power) == (0.025, 0.80) and c.mde80 == c.mde
    # at alpha 0.05 it is the smaller (t_{0.975,4} + t_{0.80,4}) * se = (2.776445 + 0.940965) * 0.0707107
    assert paired_comparison(a, b, alpha=0.05).mde == pytest.approx(0.26286, abs=1e-4)
    # sign flips: sum = 0.7 - 2 * (flipped magnitudes); |sum| >= 0.5 iff the flipped magnitudes of
    # {.1, .2, .3, .1} sum to <= .1 ({}, {.1}, {.1'}) or >= .6 (their complements): 6 of 16; the
    # zero difference doubles both counts. p = 6/16
    assert c.sign_flip_p == pytest.approx(6 / 16)
    assert c.k == 5 and not c.interval_excludes_zero


def test_issue_numbers_three_seeds():
    # issue 16: posterior - outcome = -0.021, +0.103, +0.051 (t = 1.23)
    c = paired_comparison([0.079, 0.203, 0.151], [0.1, 0.1, 0.1])
    assert c.mean == pytest.approx(0.133 / 3, abs=1e-6)
    # deviations -0.065333, 0.058667, 0.006667: squares sum 0.0077547, variance 0.0038773
    assert c.sd == pytest.approx(math.sqrt(0.0077546667 / 2), abs=1e-6)
    assert c.mean is not None and c.sd is not None
    assert c.mean / (c.sd / math.sqrt(3)) == pytest.approx(1.233, abs=1e-3)
    # sum 0.133 of magnitudes totalling 0.175: |sum| >= 0.133 iff flipped magnitudes <= 0.021 ({}, {.021})
    # or >= 0.154 ({.103, .051} - an exact tie - and all): 4 of 8
    assert c.sign_flip_p == pytest.approx(0.5)
    # t_{0.975,2} = 4.302653
    half = 4.302653 * c.sd / math.sqrt(3)
    assert c.ci95 == pytest.approx((c.mean - half, c.mean + half), abs=1e-5)


def test_sign_flip_extremes_and_errors():
    assert sign_flip_p([0.1, 0.2, 0.05, 0.3, 0.01]) == pytest.approx(2 / 32)  # all one sign: 2 / 2^K
    assert sign_flip_p([0.1] * 8) == pytest.approx(2 / 256)
    assert sign_flip_p([0.0, 0.0]) == 1.0
    single = paired_comparison([0.5], [0.4])
    assert single.sd is None and single.ci95 is None and single.mde is None and single.mde80 is None
    assert single.as_dict()["mde_alpha"] == 0.025
    assert single.sign_flip_p == 1.0
    with pytest.raises(PgrpoError, match="pairs need one of each"):
        paired_comparison([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="K <= 20"):
        sign_flip_p([0.1] * 21)


# Student t quantiles t_{p,df} as printed in tables (6 decimals)
T_TABLE = {(0.975, 4): 2.776445, (0.9875, 4): 3.495406, (0.80, 4): 0.940965, (0.975, 6): 2.446912,
           (0.9875, 6): 2.968687, (0.80, 6): 0.905703, (0.995, 4): 4.604095, (0.90, 4): 1.533206}


def test_mde_and_interval_at_any_alpha_and_power_from_printed_t_tables():
    b = [0.5] * 7
    for a in ([0.6, 0.7, 0.8, 0.4, 0.5], [0.52, 0.55, 0.49, 0.6, 0.51, 0.58, 0.5]):
        k = len(a)
        diffs = [x - y for x, y in zip(a, b)]
        se = statistics.stdev(diffs) / math.sqrt(k)
        for alpha, power in ((0.025, 0.80), (0.01, 0.90)):
            if (1 - alpha / 2, k - 1) not in T_TABLE or (power, k - 1) not in T_TABLE:
                continue
            c = paired_comparison(a, b[:k], alpha=alpha, power=power)
            expected = (T_TABLE[(1 - alpha / 2, k - 1)] + T_TABLE[(power, k - 1)]) * se
            assert c.mde == pytest.approx(expected, abs=2e-6)
            assert c.mde80 == (c.mde if power == 0.80 else None)
            record = c.as_dict()
            assert (record["mde"], record["mde_alpha"], record["mde_power"]) == (c.mde, alpha, power)
            assert record["mde80"] == c.mde80
        # the 95% t-interval stays at 95% whatever the MDE's alpha
        half = T_TABLE[(0.975, k - 1)] * se
        assert paired_comparison(a, b[:k], alpha=0.01).ci95 == pytest.approx(
            (statistics.fmean(diffs) - half, statistics.fmean(diffs) + half), abs=2e-6)
    # a lower alpha asks for a larger effect
    strict, loose = paired_comparison(b[:4], [0.4, 0.45, 0.3, 0.5]), paired_comparison(b[:4], [0.4, 0.45, 0.3, 0.5], 0.05)
    assert strict.mde is not None and loose.mde is not None and strict.mde > loose.mde
    for alpha, power in ((0.0, 0.8), (1.0, 0.8), (0.025, 1.0), (0.025, 0.0)):
        with pytest.raises(PgrpoError, match="alpha and power"):
            paired_comparison([0.1, 0.2], [0.0, 0.0], alpha=alpha, power=power)


def test_an_interval_that_excludes_zero():
    c = paired_comparison([0.6, 0.62, 0.61, 0.63], [0.5, 0.5, 0.5, 0.5])
    assert c.ci95 is not None and c.ci95[0] > 0 and c.interval_excludes_zero
    assert c.sign_flip_p == pytest.approx(2 / 16)


def test_stopping_rule_stages_and_decisions():
    default = StoppingRule()  # the study's: 8 seeds, then 4 more (cap 12); K = 8 can stop (p >= 2/256)
    assert default.seeds_through(0) == tuple(range(8)) and default.cap == 12
    assert "cannot stop" not in default.describe() and default.min_attainable_p(8) == pytest.approx(2 / 256)
    rule = StoppingRule(stages=((0, 1, 2, 3, 4), (5, 6, 7)))
    assert rule.seeds_through(0) == (0, 1, 2, 3, 4) and rule.seeds_through(1) == tuple(range(8)) and rule.cap == 8
    strong = paired_comparison([0.6] * 7, [0.5 - 0.001 * i for i in range(7)])  # 7 positive diffs: p = 2/128
    weak = paired_comparison([0.6, 0.4, 0.5, 0.55, 0.45], [0.5] * 5)
    assert rule.decide(0, strong).stop and "< 0.025" in rule.decide(0, strong).reason
    go_on = rule.decide(0, weak)
    assert not go_on.stop and "adding seeds [5, 6, 7]" in go_on.reason
    assert rule.decide(1, weak).stop and "cap" in rule.decide(1, weak).reason
    # with K = 5 the interim look cannot stop: the smallest sign-flip p is 2/32 = 0.0625 >= 0.025
    assert rule.min_attainable_p(5) == pytest.approx(0.0625)
    assert "cannot stop" in rule.describe()
    assert "cannot stop" not in StoppingRule(stages=((0, 1, 2, 3, 4, 5, 6), (7,))).describe()
    assert rule.as_dict()["cap"] == 8
    with pytest.raises(PgrpoError, match="distinct"):
        StoppingRule(stages=((0, 1), (1, 2)))
