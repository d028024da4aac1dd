"""What the checks decide, without Dagster: pure functions over one partition's frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from precalc_assets.models.catalog import parse_request
from precalc_assets.models.spec import ModelError, ModelSpec, OutputColumn
from precalc_assets.quality.decisions import (
    completeness,
    output_sanity,
    reproducibility,
    serving_readback,
)
from precalc_assets.quality.outcome import ERROR, WARN
from precalc_assets.quality.settings import ReproSettings, SanitySettings, check_settings

SPEC = ModelSpec(
    "m1",
    "python",
    (
        OutputColumn("score", "float", min=0.0, max=10.0),
        OutputColumn("fp", "int", length=3, min=0, max=1),
    ),
)


def frame(scores, fps, keys=None):
    keys = keys or [f"KEY{i}" for i in range(len(scores))]
    return pd.DataFrame({"inchikey": keys, "score": scores, "fp": [np.array(v) for v in fps]})


def test_completeness_counts_every_row():
    assert completeness(100, 100, 97, 3).passed
    missing = completeness(100, 100, 90, 3)
    assert not missing.passed and missing.severity == ERROR and missing.score == 7
    assert "| unaccounted for | 7 |" in missing.table
    assert not completeness(100, 98, 98, 0).passed  # predictions lost rows


def test_output_sanity_shares_and_severity():
    good = frame([1.0, 2.0, 3.0, 4.0], [[0, 1, 0]] * 4)
    assert output_sanity(good, SPEC, SanitySettings()).passed
    one_bad = frame([1.0, np.nan, 3.0, 4.0] * 10, [[0, 1, 0]] * 40)  # 10 of 40 NaN
    outcome = output_sanity(one_bad, SPEC, SanitySettings(warn_share=0.0, error_share=0.5))
    assert not outcome.passed and outcome.severity == WARN and outcome.score == 0.25
    assert "| score | 10 | 0 |" in outcome.table
    outcome = output_sanity(one_bad, SPEC, SanitySettings(warn_share=0.0, error_share=0.1))
    assert outcome.severity == ERROR
    vector_bad = frame([1.0, 2.0], [[0, 2, 0], [0, 1]])  # 2 out of range, 1 wrong length
    outcome = output_sanity(vector_bad, SPEC, SanitySettings())
    assert not outcome.passed and "| fp | 1 | 1 |" in outcome.table
    assert not output_sanity(frame([11.0], [[0, 0, 0]]), SPEC, SanitySettings()).passed


def test_reproducibility_compares_by_key_within_tolerance():
    before = frame([1.0, 2.0, 3.0], [[0, 1, 0]] * 3)
    after = frame([3.0, 2.0 + 1e-12, 1.0], [[0, 1, 0]] * 3, keys=["KEY2", "KEY1", "KEY0"])
    assert reproducibility(before, after, SPEC, ReproSettings()).passed
    changed = frame([1.0, 2.5, 3.0], [[0, 1, 0], [0, 1, 0], [1, 1, 0]])
    outcome = reproducibility(before, changed, SPEC, ReproSettings())
    assert not outcome.passed and "KEY1" in outcome.description and "KEY2" in outcome.description
    assert outcome.score == pytest.approx(1 / 3)


def test_serving_readback_finds_missing_and_wrong_items():
    validated = frame([1.0, 2.0], [[0, 1, 0], [1, 0, 0]])
    served = {"KEY0": [1.0, 0, 1, 0], "KEY1": [2.0, 1, 0, 0]}
    assert serving_readback(validated, served, SPEC, 1e-6).passed
    outcome = serving_readback(validated, {"KEY0": [1.5, 0, 1, 0]}, SPEC, 1e-6)
    assert not outcome.passed and outcome.score == 1.0 and "| 2 | 1 | 1 | 1 |" in outcome.table


def test_check_settings_defaults_and_errors_name_the_key():
    settings = check_settings(SPEC)
    assert settings.drift.warn_share == 0.25 and settings.readback.sample == 100
    with pytest.raises(ModelError, match=r"checks.sanity has unknown keys \['max'\]"):
        check_settings(ModelSpec("m1", "python", SPEC.columns, checks={"sanity": {"max": 1}}))
    with pytest.raises(ModelError, match="checks.readback.sample must be a non-negative number"):
        check_settings(
            ModelSpec("m1", "python", SPEC.columns, checks={"readback": {"sample": "x"}})
        )
    with pytest.raises(ModelError, match="unknown sections"):
        check_settings(ModelSpec("m1", "python", SPEC.columns, checks={"drfit": {}}))


def test_checks_in_a_request_do_not_change_the_code_version():
    plain = parse_request("m1", '{"runner": "python", "callable": "a:b", "columns": ["s"]}', "f")
    tuned = parse_request(
        "m1",
        '{"runner": "python", "callable": "a:b", "columns": ["s"],'
        ' "checks": {"drift": {"warn_share": 0.5, "baseline_slice": "lib-0003"}}}',
        "f",
    )
    assert plain.code_version == tuned.code_version
    assert check_settings(tuned).drift.warn_share == 0.5
    assert check_settings(tuned).baseline_slice == "lib-0003"
    builtin = parse_request("eos3b5e", '{"checks": {"drift": {"warn_share": 0.5}}}', "f")
    assert builtin.code_version == parse_request("eos3b5e", "{}", "f").code_version
    assert check_settings(builtin).drift.warn_share == 0.5
    with pytest.raises(ModelError, match="f: checks.drift"):
        parse_request("eos3b5e", '{"checks": {"drift": {"warn_share": "high"}}}', "f")
