"""Prediction drift scoring (precalc_assets.quality.drift) on real RDKit model outputs.

Molecules: RDKit's own NCI first_5K file; the "clearly different chemical space" is the
BRICS fragments of those molecules (`chem.fragment_smiles`), what `make demo` adds.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem, RDConfig

from precalc_assets.chem import fragment_smiles
from precalc_assets.inputs.model_requests import parse_request
from precalc_assets.models.builtin import BUILTIN_FUNCTIONS, BUILTIN_SPECS
from precalc_assets.models.spec import ModelError, OutputColumn
from precalc_assets.quality.check_settings import check_settings
from precalc_assets.quality.drift import evidently_report
from precalc_assets.quality.drift.distances import feature_scores
from precalc_assets.quality.drift.evidently_report import (
    ReportWriter,
    evidently_scores,
)
from precalc_assets.quality.drift.features import drift_features, select_vector_dims
from precalc_assets.quality.drift.measure import measure_drift
from precalc_assets.quality.drift.policy import (
    CATEGORICAL,
    NUMERIC,
    DriftPolicy,
    feature_threshold,
    fixed_threshold,
    severity_for,
)
from precalc_assets.quality.drift.verdicts import DriftResult
from precalc_assets_tests.molecules import nci_lines

NCI = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
MW = BUILTIN_SPECS["eos3b5e"].columns
PHYSCHEM = BUILTIN_SPECS["rdkit-physchem"].columns
MORGAN = BUILTIN_SPECS["morgan-fp2048"].columns
MODELS = ("eos3b5e", "rdkit-physchem", "morgan-fp2048")
# The drift check before slice sizes counted: the fixed thresholds at every size.
OLD_RULE = DriftPolicy(numeric_noise_factor=0, categorical_noise_factor=0, min_rows=1)


def _mols(smiles: list[str]) -> list[Chem.Mol]:
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    return [m for m in mols if m is not None and m.GetNumAtoms() > 0]


@pytest.fixture(scope="module")
def nci_smiles() -> list[str]:
    return [line.split()[0] for line in NCI.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def halves(nci_smiles: list[str]) -> tuple[list[Chem.Mol], list[Chem.Mol]]:
    """Two random halves of NCI: same distribution, ~2,500 molecules each."""
    mols = _mols(nci_smiles)
    order = np.random.default_rng(7).permutation(len(mols))
    half = len(mols) // 2
    return [mols[i] for i in order[:half]], [mols[i] for i in order[half:]]


@pytest.fixture(scope="module")
def fragments(nci_smiles: list[str]) -> list[Chem.Mol]:
    return _mols(fragment_smiles(nci_smiles, 1000, max_heavy_atoms=10))


def outputs(model: str, mols: list[Chem.Mol]) -> pd.DataFrame:
    return BUILTIN_FUNCTIONS[model](mols)


# --- the policy -------------------------------------------------------------------------


def test_default_policy_is_droughtwatch_share_and_never_errors() -> None:
    policy = DriftPolicy()
    assert (policy.warn_share, policy.error_share) == (0.25, 1.0)
    assert (policy.numeric_method, policy.categorical_method) == ("wasserstein", "jensenshannon")
    assert (policy.numeric_threshold, policy.categorical_threshold) == (0.5, 0.1)
    assert DriftPolicy.from_dict(None, "x") == policy
    assert DriftPolicy.from_dict({}, "x") == policy


def test_policy_from_dict_reads_values() -> None:
    policy = DriftPolicy.from_dict(
        {"warn_share": 0.5, "error_share": 0.75, "vector_dims": 8, "numeric_method": "psi"},
        "models/m.json",
    )
    assert (policy.warn_share, policy.error_share, policy.vector_dims) == (0.5, 0.75, 8)
    assert policy.numeric_method == "psi"
    assert isinstance(DriftPolicy.from_dict({"warn_share": 0}, "s").warn_share, float)


@pytest.mark.parametrize(
    ("data", "key", "hint"),
    [
        ({"warn_shar": 0.3}, "warn_shar", "use only"),
        ({"warn_share": "0.3"}, "warn_share", "number"),
        ({"warn_share": True}, "warn_share", "number"),
        ({"warn_share": 1.5}, "warn_share", "between 0 and 1"),
        ({"error_share": -0.1}, "error_share", "between 0 and 1"),
        ({"numeric_threshold": 0}, "numeric_threshold", "greater than 0"),
        ({"warn_share": 0.8, "error_share": 0.5}, "warn_share", "warn_share <= error_share"),
        ({"numeric_method": "chisquare"}, "numeric_method", "wasserstein"),
        ({"categorical_method": "wasserstein"}, "categorical_method", "jensenshannon"),
        ({"vector_dims": 0}, "vector_dims", "positive integer"),
        ({"sample_rows": 2.5}, "sample_rows", "positive integer"),
        ({"min_rows": 0}, "min_rows", "positive integer"),
        ({"min_rows": 9.5}, "min_rows", "positive integer"),
        ({"min_rows": True}, "min_rows", "positive integer"),
        ({"numeric_noise_factor": -1}, "numeric_noise_factor", "number >= 0"),
        ({"numeric_noise_factor": float("inf")}, "numeric_noise_factor", "number >= 0"),
        ({"categorical_noise_factor": "0.8"}, "categorical_noise_factor", "number >= 0"),
        ({"categorical_noise_factor": float("nan")}, "categorical_noise_factor", "number >= 0"),
    ],
)
def test_policy_errors_name_source_and_key(data: dict, key: str, hint: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        DriftPolicy.from_dict(data, "inputs/models/m.json: checks.drift")
    message = str(excinfo.value)
    assert message.startswith("inputs/models/m.json: checks.drift")
    assert key in message
    assert hint in message


def test_small_slice_policy_defaults_and_values() -> None:
    policy = DriftPolicy()
    assert (policy.numeric_noise_factor, policy.categorical_noise_factor) == (2.6, 0.8)
    assert policy.min_rows == 10
    tuned = DriftPolicy.from_dict(
        {"min_rows": 50, "numeric_noise_factor": 3, "categorical_noise_factor": 0}, "m.json"
    )
    assert (tuned.min_rows, tuned.numeric_noise_factor, tuned.categorical_noise_factor) == (
        50,
        3.0,
        0.0,
    )
    assert isinstance(tuned.numeric_noise_factor, float)


def test_small_slice_settings_are_validated_in_a_model_request() -> None:
    tuned = parse_request("eos3b5e", '{"checks": {"drift": {"min_rows": 100}}}', "f.json")
    assert check_settings(tuned).drift.min_rows == 100
    for key, bad in (("min_rows", 0), ("numeric_noise_factor", -0.5)):
        request = json.dumps({"checks": {"drift": {key: bad}}})
        with pytest.raises(ModelError, match=rf"f.json: checks.drift.{key} must be"):
            parse_request("eos3b5e", request, "f.json")


def test_policy_must_be_an_object() -> None:
    with pytest.raises(ValueError, match=r"^src: the drift policy must be an object"):
        DriftPolicy.from_dict([0.25], "src")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("share", "expected"),
    [
        (0.0, "PASS"),
        (0.25, "PASS"),
        (0.2501, "WARN"),
        (0.75, "WARN"),
        (0.76, "ERROR"),
        (1, "ERROR"),
    ],
)
def test_severity_bounds_are_strict(share: float, expected: str) -> None:
    assert severity_for(share, DriftPolicy(error_share=0.75)) == expected


def test_default_error_share_never_errors() -> None:
    assert severity_for(1.0, DriftPolicy()) == "WARN"


# --- features ---------------------------------------------------------------------------


def test_scalar_kinds() -> None:
    columns = [
        OutputColumn("score", "float"),
        OutputColumn("count", "int", min=0),
        OutputColumn("active", "int", min=0, max=1),
        OutputColumn("flag", "bool"),
        OutputColumn("label", "str", nullable=True),
    ]
    frame = pd.DataFrame(
        {
            "score": [0.1, np.inf, 0.3],
            "count": [1, 2, 3],
            "active": [0, 1, 1],
            "flag": [True, False, True],
            "label": ["a", None, "b"],
            "key": ["K1", "K2", "K3"],  # not an output: ignored
        }
    )
    features, kinds = drift_features(columns, frame, DriftPolicy())
    assert kinds == {
        "score": NUMERIC,
        "count": NUMERIC,
        "active": CATEGORICAL,
        "flag": CATEGORICAL,
        "label": CATEGORICAL,
    }
    assert np.isnan(features["score"][1])  # infinity is dropped like a null
    assert features["label"].isna().tolist() == [False, True, False]


def test_vector_dims_are_the_most_variable_of_the_reference_and_deterministic(
    halves: tuple[list[Chem.Mol], list[Chem.Mol]],
) -> None:
    reference = outputs("morgan-fp2048", halves[0])
    policy = DriftPolicy(vector_dims=8)
    dims = select_vector_dims(MORGAN, reference, policy)
    assert dims == select_vector_dims(MORGAN, reference.copy(), policy)
    assert len(dims["bits"]) == 8 and dims["bits"] == sorted(dims["bits"])
    bits = np.stack(reference["bits"].to_list())
    variance = bits.var(axis=0)
    assert variance[dims["bits"]].min() >= np.sort(variance)[-8]

    features, kinds = drift_features(MORGAN, reference, policy, dims)
    assert list(kinds) == ["bits.mean"] + [f"bits[{i}]" for i in dims["bits"]]
    assert kinds["bits.mean"] == NUMERIC
    assert {kinds[f"bits[{i}]"] for i in dims["bits"]} == {CATEGORICAL}  # min 0, max 1
    np.testing.assert_allclose(features["bits.mean"], bits.mean(axis=1))
    # The current slice is read at the reference's dimensions, whatever varies in it.
    current = outputs("morgan-fp2048", halves[1])
    _, current_kinds = drift_features(MORGAN, current, policy, dims)
    assert list(current_kinds) == list(kinds)


def test_vector_dims_default_to_the_frame_itself() -> None:
    column = OutputColumn("bits", "int", length=4, min=0, max=1)
    frame = pd.DataFrame({"bits": [[0, 1, 0, 1], [0, 0, 0, 1], [0, 1, 0, 1], [0, 0, 0, 1]]})
    _, kinds = drift_features([column], frame, DriftPolicy(vector_dims=1))
    assert list(kinds) == ["bits.mean", "bits[1]"]  # the only bit that varies


def test_vector_with_a_null_row_and_a_wrong_length() -> None:
    column = OutputColumn("emb", "float", length=3, nullable=True)
    frame = pd.DataFrame({"emb": [np.array([1.0, 2.0, 3.0]), None, [3.0, 2.0, 1.0]]})
    features, kinds = drift_features([column], frame, DriftPolicy(vector_dims=2))
    assert kinds == {"emb.mean": NUMERIC, "emb[0]": NUMERIC, "emb[2]": NUMERIC}
    assert features["emb.mean"].tolist()[0] == 2.0 and np.isnan(features["emb.mean"][1])
    bad = pd.DataFrame({"emb": [[1.0, 2.0]]})
    with pytest.raises(ValueError, match=r"'emb': row 0 holds 2 values.*length 3"):
        drift_features([column], bad, DriftPolicy())


def test_missing_output_column_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no column 'mol_weight'"):
        drift_features(MW, pd.DataFrame({"other": [1.0]}), DriftPolicy())


# --- drift on real molecules ------------------------------------------------------------


@pytest.mark.parametrize("model", ["eos3b5e", "rdkit-physchem", "morgan-fp2048"])
def test_same_distribution_slices_pass(
    model: str, halves: tuple[list[Chem.Mol], list[Chem.Mol]]
) -> None:
    columns = BUILTIN_SPECS[model].columns
    reference, current = (outputs(model, h) for h in halves)
    result = measure_drift(columns, reference, current, DriftPolicy())
    assert result.severity == "PASS", result.markdown()
    assert result.reference_rows == len(halves[0])
    assert result.current_rows == len(halves[1])


def test_trivial_shift_on_10k_rows_is_not_flagged() -> None:
    """0.06 std is not drift, yet a K-S test on 10k rows calls it one (p ~ 6e-5)."""
    from scipy import stats

    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"mol_weight": rng.normal(350, 80, 10_000)})
    current = pd.DataFrame({"mol_weight": rng.normal(355, 80, 10_000)})
    assert stats.ks_2samp(reference["mol_weight"], current["mol_weight"]).pvalue < 0.001
    result = measure_drift(MW, reference, current, DriftPolicy())
    assert result.severity == "PASS"
    assert 0.05 < result.features[0].score < 0.1


def test_fragments_warn_for_molecular_weight(
    halves: tuple[list[Chem.Mol], list[Chem.Mol]], fragments: list[Chem.Mol]
) -> None:
    reference = outputs("eos3b5e", halves[0])
    result = measure_drift(MW, reference, outputs("eos3b5e", fragments), DriftPolicy())
    assert result.severity == "WARN"  # share 1.0, but the default never errors
    assert result.drifted_share == 1.0
    (feature,) = result.features
    assert feature.feature == "mol_weight" and feature.drifted and feature.score > 0.5


def test_physchem_fragments_error_when_error_share_is_set(
    halves: tuple[list[Chem.Mol], list[Chem.Mol]], fragments: list[Chem.Mol]
) -> None:
    policy = DriftPolicy.from_dict({"error_share": 0.5}, "test")
    reference, current = outputs("rdkit-physchem", halves[0]), outputs("rdkit-physchem", fragments)
    result = measure_drift(PHYSCHEM, reference, current, policy)
    assert result.severity == "ERROR", result.markdown()
    assert result.drifted_share > 0.5
    assert {f.feature for f in result.features} == {c.name for c in PHYSCHEM}


def test_fingerprint_of_fragments_drifts(
    halves: tuple[list[Chem.Mol], list[Chem.Mol]], fragments: list[Chem.Mol], tmp_path: Path
) -> None:
    reference = outputs("morgan-fp2048", halves[0])
    current = outputs("morgan-fp2048", fragments)
    html = tmp_path / "reports" / "drift.html"
    result = measure_drift(MORGAN, reference, current, DriftPolicy(), html_path=html)
    assert result.severity == "WARN", result.markdown()
    assert len(result.features) == 1 + DriftPolicy().vector_dims
    assert "bits.mean" in result.drifted_features
    assert html.stat().st_size > 10_000
    assert "<html" in html.read_text(errors="replace")[:2000].lower()
    again = measure_drift(MORGAN, reference, current, DriftPolicy())
    assert again.to_dict() == result.to_dict()  # deterministic, HTML or not


# --- small slices -----------------------------------------------------------------------
# A library's last slice is small: 3,019 molecules in slices of 1,000 end with 19 rows, and
# the distances of so few rows to the baseline are noisy (measured in
# benchmarks/drift_false_alarms.py).


@pytest.fixture(scope="module")
def shuffled_nci() -> list[Chem.Mol]:
    """NCI's molecules in a seeded random order, so any block of them is a random sample
    of one library. (In file order, NCI's consecutive numbers are often one chemical
    series: its rows 3,000-3,018 are mostly nitrophenyl compounds (13 of 19), 0.8 std
    heavier than its first 1,000, and a WARN on them is news, not noise.)"""
    mols = _mols([line.split()[0] for line in nci_lines(5000)])
    order = np.random.default_rng(11).permutation(len(mols))
    return [mols[i] for i in order]


def old_rule_severity(result: DriftResult) -> str:
    """The verdict of the old rule (fixed thresholds) from the same scores."""
    drifted = [f.score >= fixed_threshold(OLD_RULE, f.kind)[1] for f in result.features]
    return severity_for(sum(drifted) / len(drifted), OLD_RULE)


def test_thresholds_widen_with_the_noise_of_small_slices() -> None:
    policy = DriftPolicy()
    assert feature_threshold(policy, NUMERIC, 1000, 1000) == ("wasserstein", 0.5)
    assert feature_threshold(policy, CATEGORICAL, 1000, 1000) == ("jensenshannon", 0.1)
    method, numeric = feature_threshold(policy, NUMERIC, 19, 1000)
    assert method == "wasserstein"
    assert numeric == pytest.approx(2.6 * math.sqrt(1 / 19 + 1 / 1000)) and numeric > 0.6
    _, categorical = feature_threshold(policy, CATEGORICAL, 19, 1000)
    assert categorical == pytest.approx(0.8 * math.sqrt(1 / 19 + 1 / 1000))
    # Against a 1,000-row baseline, the fixed thresholds apply from 28 / 69 rows on.
    assert feature_threshold(policy, NUMERIC, 27, 1000)[1] > 0.5
    assert feature_threshold(policy, NUMERIC, 28, 1000)[1] == 0.5
    assert feature_threshold(policy, CATEGORICAL, 68, 1000)[1] > 0.1
    assert feature_threshold(policy, CATEGORICAL, 69, 1000)[1] == 0.1
    # A small baseline widens it too.
    assert feature_threshold(policy, NUMERIC, 1000, 19)[1] == pytest.approx(numeric)
    # A p-value accounts for the sample sizes itself; a factor of 0 keeps the fixed one.
    ks = DriftPolicy(numeric_method="ks", numeric_threshold=0.05)
    assert feature_threshold(ks, NUMERIC, 19, 1000) == ("ks", 0.05)
    assert feature_threshold(OLD_RULE, NUMERIC, 19, 1000) == ("wasserstein", 0.5)
    assert feature_threshold(OLD_RULE, CATEGORICAL, 19, 1000) == ("jensenshannon", 0.1)


@pytest.mark.parametrize("model", MODELS)
def test_a_19_row_slice_of_the_same_chemistry_does_not_warn(
    model: str, shuffled_nci: list[Chem.Mol]
) -> None:
    """The issue: a library of 3,019 in slices of 1,000 WARNed on its 19-row last slice.
    Ten such slices of NCI against a 1,000-row baseline of NCI: all PASS."""
    columns = BUILTIN_SPECS[model].columns
    reference = outputs(model, shuffled_nci[:1000])
    results = [
        measure_drift(columns, reference, outputs(model, tail), DriftPolicy())
        for tail in (shuffled_nci[1000 + 19 * i : 1000 + 19 * (i + 1)] for i in range(10))
    ]
    warned = [r.markdown() for r in results if r.severity != "PASS"]
    assert not warned, warned[0]
    for result in results:
        assert (result.current_rows, result.reference_rows) == (19, 1000)
        assert "thresholds widened for the small slice: numeric 0.602 (fixed 0.5)" in (
            result.summary()
        )
        assert "(widened from 0.5)" in result.markdown()
    # What the issue saw: the fixed thresholds WARN on some of the same slices (measured:
    # eos3b5e and rdkit-physchem 1 of 10, morgan-fp2048 6: 19 rows' bits are noisy).
    old_warnings = sum(old_rule_severity(r) != "PASS" for r in results)
    assert old_warnings >= (3 if model == "morgan-fp2048" else 1)


@pytest.mark.parametrize("model", MODELS)
def test_19_rows_of_fragments_still_warn(
    model: str, shuffled_nci: list[Chem.Mol], fragments: list[Chem.Mol]
) -> None:
    """At the size of a library's tail, clearly different chemistry is still flagged by
    every built-in model: the widened thresholds stay far below fragments' distances."""
    columns = BUILTIN_SPECS[model].columns
    reference = outputs(model, shuffled_nci[:1000])
    for start in (0, 19, 38):
        current = outputs(model, fragments[start : start + 19])
        result = measure_drift(columns, reference, current, DriftPolicy())
        assert result.severity == "WARN", result.markdown()
        assert result.widened()  # judged against the small slice's thresholds


def test_fewer_rows_than_min_rows_are_not_judged(
    shuffled_nci: list[Chem.Mol], fragments: list[Chem.Mol], tmp_path: Path
) -> None:
    """Below `min_rows` (10) a verdict would be about single molecules: PASS, and the
    description says why; the check still links a report."""
    reference = outputs("eos3b5e", shuffled_nci[:1000])
    nine = outputs("eos3b5e", fragments[:9])
    html = tmp_path / "drift.html"
    result = measure_drift(MW, reference, nine, DriftPolicy(), html_path=html)
    note = "too few rows (9) to judge drift; at least 10 needed"
    assert (result.severity, result.drifted_share, result.features) == ("PASS", 0.0, ())
    assert result.summary() == f"PASS: {note}; 9 rows vs 1,000 baseline rows"
    assert note in result.markdown() and "min_rows" in result.markdown()
    assert note in html.read_text() and "<html" in html.read_text()
    assert result.to_dict()["note"] == note
    baseline = measure_drift(MW, nine, reference, DriftPolicy())
    assert baseline.severity == "PASS"
    assert baseline.note == "too few baseline rows (9) to judge drift; at least 10 needed"
    # A user who wants single molecules judged lowers min_rows: 9 fragments are far off.
    judged = measure_drift(MW, reference, nine, DriftPolicy.from_dict({"min_rows": 9}, "t"))
    assert judged.severity == "WARN" and judged.note == ""


@pytest.mark.parametrize("model", MODELS)
def test_a_thousand_fragments_warn_for_every_builtin_model(
    model: str, shuffled_nci: list[Chem.Mol], fragments: list[Chem.Mol]
) -> None:
    """The demo's fragments (1,000 of at most 10 heavy atoms) against a 1,000-row
    baseline: WARN at the default policy, with the fixed thresholds (nothing widened)."""
    columns = BUILTIN_SPECS[model].columns
    reference = outputs(model, shuffled_nci[:1000])
    result = measure_drift(columns, reference, outputs(model, fragments), DriftPolicy())
    assert result.severity == "WARN", result.markdown()
    assert result.widened() == {} and "widened" not in result.markdown()


# --- edge cases -------------------------------------------------------------------------

TWO = [OutputColumn("a", "float"), OutputColumn("b", "int", min=0, max=1)]


def test_constant_features_in_both_are_not_drift() -> None:
    frame = pd.DataFrame({"a": [2.0] * 50, "b": [1] * 50})
    result = measure_drift(TWO, frame, frame.copy(), DriftPolicy())
    assert [(f.score, f.drifted) for f in result.features] == [(0.0, False), (0.0, False)]
    assert result.severity == "PASS"


def test_feature_constant_in_reference_only_drifts() -> None:
    reference = pd.DataFrame({"a": [2.0] * 50, "b": [1] * 50})
    current = pd.DataFrame({"a": np.linspace(1, 3, 50), "b": [0, 1] * 25})
    result = measure_drift(TWO, reference, current, DriftPolicy())
    assert all(f.drifted for f in result.features)
    assert all(f.score is not None and np.isfinite(f.score) for f in result.features)


def test_all_null_features_are_decided_without_evidently() -> None:
    columns = [OutputColumn(n, "float", nullable=True) for n in ("ok", "gone", "never")]
    reference = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "gone": [1.0, 2.0, 3.0], "never": None})
    current = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "gone": [np.nan] * 3, "never": None})
    result = measure_drift(columns, reference, current, DriftPolicy(min_rows=1))  # 3 rows
    by_name = {f.feature: f for f in result.features}
    assert by_name["ok"].score == 0.0 and not by_name["ok"].drifted
    assert by_name["gone"].score is None and by_name["gone"].drifted
    assert by_name["gone"].note == "no values in current"
    assert by_name["never"].score is None and not by_name["never"].drifted
    assert result.drifted_share == pytest.approx(1 / 3)
    assert "no values in current" in result.markdown()


def test_only_null_features_still_write_a_report(tmp_path: Path) -> None:
    columns = [OutputColumn("x", "float", nullable=True)]
    frame = pd.DataFrame({"x": [np.nan, np.nan]})
    html = tmp_path / "r.html"
    result = measure_drift(columns, frame, frame, DriftPolicy(min_rows=1), html_path=html)
    assert result.severity == "PASS" and html.stat().st_size > 0


@pytest.mark.parametrize("empty", ["reference", "current"])
def test_empty_side_is_a_clear_error(empty: str) -> None:
    frame = pd.DataFrame({"mol_weight": [1.0, 2.0]})
    sides = {"reference": frame, "current": frame}
    sides[empty] = frame.iloc[:0]
    with pytest.raises(ValueError, match=f"the {empty}.* predictions have no rows"):
        measure_drift(MW, sides["reference"], sides["current"], DriftPolicy())


def test_sample_rows_caps_both_sides_deterministically() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"mol_weight": rng.normal(300, 50, 5000)})
    current = pd.DataFrame({"mol_weight": rng.normal(300, 50, 3000)})
    policy = DriftPolicy(sample_rows=1000)
    first = measure_drift(MW, reference, current, policy)
    assert (first.reference_rows, first.current_rows) == (1000, 1000)
    assert measure_drift(MW, reference, current, policy).to_dict() == first.to_dict()


def test_string_and_bool_columns_are_compared_as_categories() -> None:
    columns = [OutputColumn("label", "str"), OutputColumn("flag", "bool")]
    reference = pd.DataFrame({"label": ["a", "b"] * 50, "flag": [True, False] * 50})
    current = pd.DataFrame({"label": ["c"] * 100, "flag": [True, False] * 50})
    result = measure_drift(columns, reference, current, DriftPolicy())
    assert [(f.kind, f.method, f.drifted) for f in result.features] == [
        (CATEGORICAL, "jensenshannon", True),
        (CATEGORICAL, "jensenshannon", False),
    ]
    assert result.severity == "WARN"  # 1 of 2 > 0.25


# --- outputs for the UI -----------------------------------------------------------------


def test_markdown_table_and_json() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"mol_weight": rng.normal(300, 50, 500)})
    current = pd.DataFrame({"mol_weight": rng.normal(400, 50, 400)})
    result = measure_drift(MW, reference, current, DriftPolicy())
    text = result.markdown()
    assert text.startswith("| feature | kind | method | score | threshold | drifted |\n|---|")
    assert "| mol_weight | numeric | wasserstein |" in text
    assert "**yes**" in text
    assert "WARN: 1 of 1 features drifted (share 1.00; WARN above 0.25, ERROR above 1)" in text
    assert "400 rows vs 500 baseline rows" in text
    data = json.loads(json.dumps(result.to_dict()))
    assert data["severity"] == "WARN" and data["drifted_features"] == ["mol_weight"]
    assert data["policy"]["warn_share"] == 0.25
    assert isinstance(result, DriftResult)


def test_snapshot_statuses_as_enum_or_string() -> None:
    """`Snapshot.dict()` holds TestStatus enums, `json()` strings; tests share id "drift"
    and point at their metric through metric_config.metric_id."""
    from precalc_assets.quality.drift.evidently_report import _scores_from_snapshot

    data = {
        "metrics": [
            {"id": "m1", "config": {"column": "a"}, "value": 0.5},
            {"id": "m2", "config": {"column": "b"}, "value": 0.01},
        ],
        "tests": [
            {"id": "drift", "metric_config": {"metric_id": "m2"}, "status": "SUCCESS"},
            {"id": "drift", "metric_config": {"metric_id": "m1"}, "status": "FAIL"},
        ],
    }
    assert _scores_from_snapshot(data) == {"a": (0.5, True), "b": (0.01, False)}


# --- the drifted demo library -----------------------------------------------------------


def test_fragment_smiles_is_deterministic_unique_and_real(nci_smiles: list[str]) -> None:
    first = fragment_smiles(nci_smiles[:300], 200)
    assert first == fragment_smiles(nci_smiles[:300], 200)
    assert 0 < len(first) <= 200 and len(set(first)) == len(first)
    for smiles in first:
        mol = Chem.MolFromSmiles(smiles)
        assert mol is not None and mol.GetNumHeavyAtoms() >= 3
        assert Chem.MolToSmiles(mol) == smiles  # canonical
        assert "*" not in smiles  # attachment points capped
    assert fragment_smiles(nci_smiles[:300], 5) == first[:5]
    assert fragment_smiles(["", "not a smiles", "CC"], 10) == []


# --- computed without Evidently, as Evidently computes it -------------------------------
# The check scores the default methods itself (`feature_scores`) and builds Evidently's
# report only to write its HTML; both must give the same verdict on the same features.


def _features(
    columns, reference: pd.DataFrame, current: pd.DataFrame, policy: DriftPolicy
) -> tuple[list[str], dict, pd.DataFrame, pd.DataFrame, dict]:
    """What `measure_drift` scores: (names, kinds, reference and current features,
    thresholds), thresholds widened for the sample sizes as the check widens them."""
    dims = select_vector_dims(columns, reference, policy)
    ref, kinds = drift_features(columns, reference, policy, dims)
    cur, _ = drift_features(columns, current, policy, dims)
    names = [n for n in kinds if ref[n].notna().any() and cur[n].notna().any()]
    thresholds = {
        n: feature_threshold(policy, kinds[n], int(cur[n].notna().sum()), int(ref[n].notna().sum()))
        for n in kinds
    }
    return names, kinds, ref, cur, thresholds


def assert_same_as_evidently(
    columns, reference: pd.DataFrame, current: pd.DataFrame, policy: DriftPolicy
) -> dict[str, tuple[float, bool]]:
    names, kinds, ref, cur, thresholds = _features(columns, reference, current, policy)
    direct = feature_scores(names, kinds, ref, cur, thresholds)
    evidently = evidently_scores(names, kinds, ref, cur, thresholds)
    assert set(direct) == set(evidently) == set(names)
    for name in names:
        (score, drifted), (expected, expected_drifted) = direct[name], evidently[name]
        assert drifted == expected_drifted, (name, score, expected, thresholds[name])
        assert score == pytest.approx(expected, rel=1e-9, abs=1e-12), name
    return direct


def _cases(halves, fragments, shuffled_nci):
    """(label, reference mols, current mols): the same library, a different chemical
    space, a library's 19-row tail, a library in file order against a random sample."""
    return [
        ("NCI halves", halves[0], halves[1]),
        ("NCI vs its BRICS fragments", halves[0], fragments),
        ("19 rows of NCI", shuffled_nci[:1000], shuffled_nci[1000:1019]),
        ("19 fragments", shuffled_nci[:1000], fragments[:19]),
        ("NCI in file order", shuffled_nci[:1000], _mols(nci_lines(1000, 4000))),
    ]


@pytest.mark.parametrize("model", MODELS)
def test_direct_scores_equal_evidently_on_real_outputs(
    model: str,
    halves: tuple[list[Chem.Mol], list[Chem.Mol]],
    fragments: list[Chem.Mol],
    shuffled_nci: list[Chem.Mol],
) -> None:
    columns = BUILTIN_SPECS[model].columns
    drifted = set()
    for label, reference, current in _cases(halves, fragments, shuffled_nci):
        scores = assert_same_as_evidently(
            columns, outputs(model, reference), outputs(model, current), DriftPolicy()
        )
        drifted |= {label for _, flag in scores.values() if flag}
    # Both verdicts occur, so the flags were compared on each side of the thresholds.
    assert "NCI vs its BRICS fragments" in drifted and "NCI halves" not in drifted


@pytest.mark.parametrize(
    ("numeric_method", "categorical_method"),
    [("ks", "chisquare"), ("psi", "z"), ("jensenshannon", "hellinger"), ("t_test", "psi")],
)
def test_other_methods_are_evidentlys_own_stat_tests(
    numeric_method: str,
    categorical_method: str,
    halves: tuple[list[Chem.Mol], list[Chem.Mol]],
    fragments: list[Chem.Mol],
) -> None:
    """A method not computed here is Evidently's stat test, called without a report:
    the same verdict as the report's (p-values included: drift below the threshold)."""
    policy = DriftPolicy(
        numeric_method=numeric_method,
        numeric_threshold=0.05 if numeric_method != "jensenshannon" else 0.1,
        categorical_method=categorical_method,
        categorical_threshold=0.05,
    )
    for model in ("rdkit-physchem", "morgan-fp2048"):
        columns = BUILTIN_SPECS[model].columns
        reference = outputs(model, halves[0][:600])
        for current in (outputs(model, halves[1][:400]), outputs(model, fragments[:300])):
            assert_same_as_evidently(columns, reference, current, policy)


def test_direct_scores_equal_evidently_on_edge_distributions() -> None:
    """Few distinct values (binned per value), strings and bools, constants, a shift
    nobody cares about on 10,000 rows, and infinities and nulls dropped first."""
    rng = np.random.default_rng(5)
    columns = [
        OutputColumn("score", "float", nullable=True),
        OutputColumn("count", "int", min=0),
        OutputColumn("active", "int", min=0, max=1),
        OutputColumn("flag", "bool"),
        OutputColumn("label", "str", nullable=True),
        OutputColumn("constant", "float"),
    ]

    def frame(n: int, shift: float, p: float, labels: list[str]) -> pd.DataFrame:
        score = rng.normal(300 + shift, 50, n)
        score[:5] = [np.inf, -np.inf, np.nan, np.nan, np.inf]
        return pd.DataFrame(
            {
                "score": score,
                "count": rng.integers(0, 6, n),
                "active": (rng.random(n) < p).astype(int),
                "flag": rng.random(n) < p,
                "label": [labels[i % len(labels)] if i % 7 else None for i in range(n)],
                "constant": np.full(n, 2.0),
            }
        )

    reference = frame(10_000, 0, 0.3, ["a", "b", "c"])
    for current in (
        frame(10_000, 3, 0.3, ["a", "b", "c"]),
        frame(500, 40, 0.5, ["a", "d"]),
        frame(12, 0, 0.3, ["b"]),
    ):
        assert_same_as_evidently(columns, reference, current, DriftPolicy())
        numeric_js = DriftPolicy(numeric_method="jensenshannon", numeric_threshold=0.1)
        assert_same_as_evidently(columns, reference, current, numeric_js)


def test_checks_never_import_evidently_in_their_own_process(tmp_path: Path) -> None:
    """In a fresh process: every default-method verdict without `import evidently`
    (~3.5 s) or `scipy.stats` (~1 s); a report is written by a process of its own, so
    the ~160 MB Evidently costs is not held by a worker for the rest of its runs."""
    script = f"""
import sys
import numpy as np, pandas as pd
from precalc_assets.models.builtin import BUILTIN_SPECS
from precalc_assets.quality.drift.measure import measure_drift
from precalc_assets.quality.drift.policy import DriftPolicy
columns = BUILTIN_SPECS["eos3b5e"].columns
rng = np.random.default_rng(0)
reference = pd.DataFrame({{"mol_weight": rng.normal(300, 50, 1000)}})
same = pd.DataFrame({{"mol_weight": rng.normal(300, 50, 1000)}})
moved = pd.DataFrame({{"mol_weight": rng.normal(400, 50, 1000)}})
html = {str(tmp_path / "r.html")!r}
assert measure_drift(columns, reference, same, DriftPolicy()).severity == "PASS"
assert measure_drift(columns, reference, moved, DriftPolicy()).severity == "WARN"
passed = measure_drift(columns, reference, same, DriftPolicy(), html, html_when="failing")
assert passed.severity == "PASS"
print("evidently" in sys.modules, "scipy.stats" in sys.modules)
measure_drift(columns, reference, moved, DriftPolicy(), html, html_when="failing")
print("evidently" in sys.modules)
"""
    import sys

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "False", "False"], done.stderr
    assert "<html" in (tmp_path / "r.html").read_text()[:2000].lower()


def test_html_when_failing_writes_the_report_only_for_a_warn(
    shuffled_nci: list[Chem.Mol], fragments: list[Chem.Mol], tmp_path: Path
) -> None:
    reference = outputs("eos3b5e", shuffled_nci[:1000])
    same, moved = outputs("eos3b5e", shuffled_nci[1000:2000]), outputs("eos3b5e", fragments)
    html = tmp_path / "r.html"
    passed = measure_drift(MW, reference, same, DriftPolicy(), html, html_when="failing")
    assert passed.severity == "PASS" and not html.exists()
    few = measure_drift(MW, reference, same[:9], DriftPolicy(), html, html_when="failing")
    assert few.note and not html.exists()  # not judged: a PASS, no report
    warned = measure_drift(MW, reference, moved, DriftPolicy(), html, html_when="failing")
    assert warned.severity == "WARN" and html.stat().st_size > 10_000
    assert warned.to_dict() == measure_drift(MW, reference, moved, DriftPolicy()).to_dict()
    with pytest.raises(ValueError, match="html_when is 'sometimes'"):
        measure_drift(MW, reference, same, DriftPolicy(), html, html_when="sometimes")


def test_distances_are_scipys_to_the_last_bit() -> None:
    """The two distances, written out with numpy so that a check does not import
    `scipy.stats` (~1 s), give exactly what scipy's functions give (Evidently calls those)."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance as scipy_wasserstein

    from precalc_assets.quality.drift.distances import (
        jensenshannon_distance,
        wasserstein_distance,
        wasserstein_distances,
    )

    rng = np.random.default_rng(9)
    samples = [
        (rng.normal(0, 1, 1000), rng.normal(0.3, 2, 700)),
        (rng.integers(0, 5, 400).astype(float), rng.integers(0, 3, 19).astype(float)),
        (np.array([2.0] * 50), np.linspace(1, 3, 50)),
        (np.array([1.0]), np.array([1.0, 1.0, 5.0])),
        (rng.lognormal(5, 1, 10_000), rng.lognormal(5.01, 1, 10_000)),
    ]
    for u, v in samples:
        assert wasserstein_distance(u, v) == scipy_wasserstein(u, v)
        assert wasserstein_distance(pd.Series(u), pd.Series(v)) == scipy_wasserstein(u, v)
    with pytest.raises(ValueError, match="empty"):
        wasserstein_distance([], [1.0])
    # Many features at once (a wide model's): the same distances, to the last bit, on
    # counts full of ties, signed zeros, and sides of different sizes.
    counts = rng.poisson(0.3, (40, 500)).astype(float), rng.poisson(0.5, (40, 333)).astype(float)
    zeros = np.where(rng.random((5, 60)) < 0.5, -0.0, 0.0), rng.normal(0, 1e-3, (5, 9))
    for u, v in [counts, zeros, (rng.normal(0, 1, (7, 1000)), rng.normal(0.1, 1, (7, 700)))]:
        expected = [scipy_wasserstein(a, b) for a, b in zip(u, v, strict=True)]
        assert wasserstein_distances(u, v) == expected
    shares = [
        (np.array([0.2, 0.3, 0.5]), np.array([0.5, 0.3, 0.2])),
        (np.array([0.0, 0.4, 0.6]), np.array([0.7, 0.0, 0.3])),
        (np.array([1.0, 0.0]), np.array([0.0, 1.0])),
        (rng.random(30), rng.random(30)),
        (np.array([3, 5, 0, 2]), np.array([1, 1, 1, 1])),  # counts: normalised first
    ]
    for p, q in shares:
        assert jensenshannon_distance(p, q) == jensenshannon(p, q, None)


def test_a_report_that_cannot_be_written_says_which_and_why(tmp_path: Path) -> None:
    """The report's own process failing is an error naming the report and Evidently's
    last line, not a hang or a silent missing file."""
    frame = pd.DataFrame({"a": np.arange(100.0)})
    html = tmp_path / "r.html"
    with ReportWriter() as reports, pytest.raises(RuntimeError, match=r"r\.html could not be .+"):
        reports.write(["a"], {"a": "numeric"}, frame, frame, {"a": ("no-such", 0.1)}, html)
    assert not html.exists()


def test_one_report_process_writes_every_report_of_a_writer(tmp_path, monkeypatch) -> None:
    """A check op's writer starts one process (Evidently imported once) for all its
    reports, goes on after a report that fails, and leaves no process behind."""
    started: list[subprocess.Popen] = []
    popen = evidently_report.subprocess.Popen

    def counted(*args, **kwargs):
        started.append(popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(evidently_report.subprocess, "Popen", counted)
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"a": rng.normal(0, 1, 500)})
    moved = pd.DataFrame({"a": rng.normal(1, 1, 500)})
    method = {"a": ("wasserstein", 0.1)}
    with ReportWriter() as reports:
        reports.write(["a"], {"a": "numeric"}, ref, moved, method, tmp_path / "1.html")
        with pytest.raises(RuntimeError, match=r"2\.html could not be written: .+"):
            reports.write(
                ["a"], {"a": "numeric"}, ref, moved, {"a": ("no-such", 0.1)}, tmp_path / "2.html"
            )
        reports.write(["a"], {"a": "numeric"}, ref, moved, method, tmp_path / "3.html")
    assert len(started) == 1 and started[0].poll() is not None
    assert "<html" in (tmp_path / "3.html").read_text()[:2000].lower()
    assert (tmp_path / "1.html").exists() and not (tmp_path / "2.html").exists()
