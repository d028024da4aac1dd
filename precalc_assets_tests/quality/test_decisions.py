"""What the checks decide, without Dagster: pure functions over one partition's frames."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from precalc_assets.inputs.model_requests import parse_request
from precalc_assets.models.spec import ModelError, ModelSpec, OutputColumn
from precalc_assets.quality.check_settings import ReproSettings, SanitySettings, check_settings
from precalc_assets.quality.decisions import (
    completeness,
    output_sanity,
    reproducibility,
    serving_readback,
)
from precalc_assets.quality.outcome import ERROR, WARN

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
    assert "| score | 10 (not nullable) |  | 0 | [0.0, 10.0] | 0.2500 |" in outcome.table
    outcome = output_sanity(one_bad, SPEC, SanitySettings(warn_share=0.0, error_share=0.1))
    assert outcome.severity == ERROR
    vector_bad = frame([1.0, 2.0], [[0, 2, 0], [0, 1]])  # 2 out of range, 1 wrong length
    outcome = output_sanity(vector_bad, SPEC, SanitySettings())
    assert not outcome.passed and "| fp | 1 (not nullable) |  | 1 |" in outcome.table
    assert not output_sanity(frame([11.0], [[0, 0, 0]]), SPEC, SanitySettings()).passed


def test_a_wide_frame_s_columns_are_counted_as_each_column_alone():
    """2,048-column models are counted in one pass: the same table as column by column."""
    columns = (
        OutputColumn("n", "int", nullable=True, min=0, max=5),
        OutputColumn("x", "float", nullable=True),
        OutputColumn("y", "float", min=-1.0),
        OutputColumn("fp", "int", length=3, min=0, max=1),
    )
    spec = ModelSpec("wide", "command", columns)
    wide = pd.DataFrame(
        {
            "n": pd.array([1, 6, None, 3], dtype="Int64"),  # an extension column
            "x": [np.nan, np.inf, 1e130, 2.0],
            "y": [-2.0, 0.0, 1e-140, np.nan],
            "fp": [np.array(v) for v in ([0, 1, 0], [0, 2, 0], [1, 1, 1], [0, 0, 0])],
        }
    )
    alone = [wide[[c.name]].astype(object) for c in columns]  # no column held as numbers
    tables = [output_sanity(f, replace(spec, columns=(c,)), SanitySettings()).table
              for f, c in zip(alone, columns, strict=True)]  # fmt: skip
    table = output_sanity(wide, spec, SanitySettings()).table
    assert table.splitlines()[2:] == [t.splitlines()[2] for t in tables]
    assert "| y | 1 (not nullable) |  | 2 | [-1.0, ] | 0.7500 |" in table


HUB = ModelSpec(
    "hub",
    "http",
    (OutputColumn("weight", nullable=True), OutputColumn("charge", nullable=True, max=1.0)),
)


def hub_frame(weights, charges, reasons=None):
    reasons = reasons or [None] * len(weights)
    return pd.DataFrame(
        {"inchikey": [f"K{i}" for i in range(len(weights))], "weight": weights,
         "charge": charges, "reason": reasons}
    )  # fmt: skip


def test_a_nullable_columns_null_share_fails_only_above_its_threshold():
    """82 of 1,974 NCI molecules leave a hub model's Gasteiger charges empty: 4 %."""
    some = hub_frame([1.0] * 100, [np.nan] * 4 + [0.1] * 96)
    outcome = output_sanity(some, HUB, SanitySettings())
    assert outcome.passed and "| charge | 4 | 0.0400 | 0 |" in outcome.table
    most = hub_frame([1.0] * 100, [np.nan] * 30 + [0.1] * 70)
    outcome = output_sanity(most, HUB, SanitySettings())
    assert not outcome.passed and outcome.severity == WARN
    assert (outcome.score, outcome.threshold) == (0.30, 0.25)
    assert "null share 0.3000 (WARN above 0.25, ERROR above 0.95)" in outcome.description
    assert output_sanity(most, HUB, SanitySettings(null_warn_share=0.5)).passed
    empty = hub_frame([1.0] * 100, [np.nan] * 100)
    assert output_sanity(empty, HUB, SanitySettings()).severity == ERROR
    settings = check_settings(replace(HUB, checks={"sanity": {"null_warn_share": 0.4}}))
    assert settings.sanity.null_warn_share == 0.4


def test_floats_beyond_the_serving_tables_range_are_out_of_range():
    beyond = frame([1.0, 1e126, 1e-200, 0.0], [[0, 1, 0]] * 4)
    outcome = output_sanity(beyond, SPEC, SanitySettings(error_share=0.9))
    assert not outcome.passed and "| score | 0 (not nullable) |  | 2 |" in outcome.table


def test_rows_the_model_failed_on_are_bad_not_null():
    failed = hub_frame([1.0] * 10, [0.1] * 10, ["model_failed"] * 2 + [None] * 8)
    failed.loc[:1, ["weight", "charge"]] = np.nan
    outcome = output_sanity(failed, HUB, SanitySettings(warn_share=0.1, error_share=0.5))
    assert not outcome.passed and outcome.severity == WARN and outcome.score == 0.2
    assert "| charge | 0 | 0.0000 | 0 |" in outcome.table  # not counted as the model's nulls
    assert "| (rows the model failed on) | 2 |  |  |  | 0.2000 |" in outcome.table
    assert outcome.figures["model_failed"] == 2


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
    with pytest.raises(ModelError, match=r"checks has unknown keys \['drfit'\]"):
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


# --- whole columns at once: the same counts as row by row -------------------------------


def _row_by_row_bad(values, column: OutputColumn) -> tuple[int, int]:
    """`_bad_rows` of a vector column as it was written first, one row at a time."""
    cells = [None if v is None else np.asarray(v, dtype=float) for v in values]
    whole = [c is not None and c.shape == (column.length,) for c in cells]
    nulls = sum(not ok or bool(np.isnan(c).any()) for c, ok in zip(cells, whole, strict=True))
    low = -np.inf if column.min is None else column.min
    high = np.inf if column.max is None else column.max
    out = sum(
        ok and bool(((c < low) | (c > high)).any()) for c, ok in zip(cells, whole, strict=True)
    )
    return (0 if column.nullable else nulls), out


def _vectors(rng, rows: int, length: int) -> list:
    """Row views of one matrix (as `frames.to_frame` reads them), a few bad rows."""
    matrix = rng.integers(0, 2, (rows, length)).astype(float)
    matrix[1, 1] = np.nan
    matrix[2, 0] = 2.0  # out of range
    return list(matrix)


@pytest.mark.parametrize("rows", [7, 2500])  # one chunk, and several (VECTOR_CHUNK 1000)
def test_vector_sanity_counts_equal_row_by_row(rows: int) -> None:
    from precalc_assets.quality.decisions import _bad_rows

    column = OutputColumn("fp", "int", length=4, min=0, max=1)
    values = _vectors(np.random.default_rng(rows), rows, 4)
    whole = pd.Series(values, dtype=object)
    assert _bad_rows(whole, column) == _row_by_row_bad(values, column) == (1, 1)
    ragged = pd.Series([*values[:-3], None, [0, 1], [0, 1, 1, 3]], dtype=object)
    assert _bad_rows(ragged, column) == _row_by_row_bad(list(ragged), column) == (3, 2)
    nullable = OutputColumn("fp", "int", length=4, min=0, max=1, nullable=True)
    assert _bad_rows(ragged, nullable) == (3, 2)  # the caller judges the nulls


def test_reproducibility_of_whole_columns_equals_row_by_row() -> None:
    """Numbers, bools, strings, nulls and vectors (some of the wrong length) compared as
    arrays give `_values_match`'s verdict for every row."""
    from precalc_assets.quality.decisions import _values_match, compare_outputs

    spec = ModelSpec(
        "m2",
        "python",
        (
            OutputColumn("score", "float", nullable=True),
            OutputColumn("n", "int"),
            OutputColumn("flag", "bool"),
            OutputColumn("label", "str", nullable=True),
            OutputColumn("fp", "float", length=3, nullable=True),
        ),
    )
    rng = np.random.default_rng(2)
    rows = 2100
    keys = [f"K{i:05d}" for i in range(rows)]
    score = rng.normal(size=rows)
    score[:4] = np.nan
    fp = rng.normal(size=(rows, 3))
    before = pd.DataFrame(
        {
            "inchikey": keys,
            "score": score,
            "n": rng.integers(0, 9, rows),
            "flag": rng.random(rows) < 0.5,
            "label": [None if i % 9 == 0 else f"l{i % 4}" for i in range(rows)],
            "fp": pd.Series(list(fp), dtype=object),
        }
    )
    after = before.copy()
    after["score"] = score * (1 + np.where(np.arange(rows) % 50 == 0, 1e-3, 1e-9))
    after.loc[2, "score"] = 1.0  # null before, a value now
    after["n"] = np.where(np.arange(rows) % 70 == 0, before["n"] + 1, before["n"])
    after["flag"] = np.where(np.arange(rows) % 90 == 0, ~before["flag"], before["flag"])
    after.loc[5, "label"] = "other"
    moved = fp.copy()
    moved[::40, 1] += 1e-3
    moved[7, 2] = np.nan
    cells = list(moved)
    cells[11], cells[1500] = None, np.array([1.0, 2.0])  # null, wrong length
    after["fp"] = pd.Series(cells, dtype=object)
    after = after.iloc[::-1]  # compared by key, in any order

    compared, differing, examples = compare_outputs(before, after, spec, 1e-6, 1e-9)
    by_key = after.set_index("inchikey")
    expected = {
        c.name: sum(
            not _values_match(a, by_key.at[k, c.name], 1e-6, 1e-9)
            for k, a in zip(before["inchikey"], before[c.name], strict=True)
        )
        for c in spec.columns
    }
    assert compared == rows and differing == expected
    assert all(n > 0 for n in differing.values()), differing
    assert len(examples) == 3 and examples[0] == "K00002"


def test_drift_report_setting_defaults_to_failing_and_is_validated() -> None:
    assert check_settings(SPEC).drift_report == "failing"
    for value in ("always", "failing", "never"):
        spec = ModelSpec("m1", "python", SPEC.columns, checks={"drift": {"report": value}})
        assert check_settings(spec).drift_report == value
    request = '{"checks": {"drift": {"report": "always", "warn_share": 0.5}}}'
    tuned = parse_request("eos3b5e", request, "f")
    assert check_settings(tuned).drift_report == "always"
    assert check_settings(tuned).drift.warn_share == 0.5
    assert tuned.code_version == parse_request("eos3b5e", "{}", "f").code_version
    for bad in ("sometimes", True, None, 1):
        request = json.dumps({"checks": {"drift": {"report": bad}}})
        with pytest.raises(ModelError, match=r"^f: checks.drift.report is .*\"always\""):
            parse_request("eos3b5e", request, "f")
