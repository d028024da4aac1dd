"""A hub model's card and examples: columns from the card, cross-checks, fingerprints."""

from __future__ import annotations

import pytest

from precalc_assets.inputs.model_requests import resolve_spec
from precalc_assets.models.card import ModelCard
from precalc_assets.models.examples import check_examples, fingerprint
from precalc_assets.models.runners.http import HttpRunner
from precalc_assets.models.spec import ModelError, OutputColumn
from precalc_assets.quality.check_settings import check_settings
from precalc_assets_tests.model_server import ModelServer

SOURCE = "inputs/models/m.json"
CARD = ModelCard(
    source="http://127.0.0.1:1",
    identifier="eos3b5e",
    slug="molecular-weight",
    consistency="Fixed",
    columns=(OutputColumn("mol_weight", "float"), OutputColumn("heavy_atoms", "int")),
    example_inputs=("CCO",),
    example_outputs=({"mol_weight": 46.069, "heavy_atoms": 3},),
)
HTTP = {"runner": "http", "url": "http://127.0.0.1:1"}


def test_columns_come_from_the_card_when_none_are_declared() -> None:
    spec = resolve_spec("m", HTTP, SOURCE, CARD)
    assert [(c.name, c.dtype) for c in spec.columns] == [
        ("mol_weight", "float"),
        ("heavy_atoms", "int"),
    ]
    assert spec.fingerprint == fingerprint(CARD) != ""


def test_declared_columns_are_checked_against_the_card() -> None:
    spec = resolve_spec("m", {**HTTP, "columns": ["mol_weight"]}, SOURCE, CARD)
    assert spec.column_names == ["mol_weight"]
    with pytest.raises(ModelError, match="declares column 'logp', which the model does not"):
        resolve_spec("m", {**HTTP, "columns": ["logp"]}, SOURCE, CARD)
    with pytest.raises(ModelError, match="'mol_weight' of model 'm' is declared str, but the"):
        resolve_spec(
            "m", {**HTTP, "columns": [{"name": "mol_weight", "dtype": "str"}]}, SOURCE, CARD
        )
    # An integer output may be declared float (wider), not the other way round.
    wide = {"name": "heavy_atoms", "dtype": "float"}
    assert resolve_spec("m", {**HTTP, "columns": [wide]}, SOURCE, CARD).columns[0].dtype == "float"


def test_a_model_that_has_not_described_itself_needs_columns() -> None:
    with pytest.raises(ModelError, match="has not described itself yet"):
        resolve_spec("m", HTTP, SOURCE)


def test_where_a_model_is_served_is_not_its_code_version_once_it_is_known() -> None:
    here = resolve_spec("m", HTTP, SOURCE, CARD)
    there = resolve_spec("m", {**HTTP, "url": "http://localhost:8081"}, SOURCE, CARD)
    assert here.code_version == there.code_version
    other = ModelCard(**{**CARD.__dict__, "example_outputs": ({"mol_weight": 46.07},)})
    assert resolve_spec("m", HTTP, SOURCE, other).code_version != here.code_version


def test_the_examples_are_run_and_compared() -> None:
    with ModelServer() as server:
        request = {"runner": "http", "url": server.url}
        card = HttpRunner.describe("m", {"url": server.url})
        spec = resolve_spec("m", request, SOURCE, card)
        check = check_examples(spec, card)
        assert check is not None and check.passed and check.compared == 5
        wrong = ModelCard(
            **{
                **card.__dict__,
                "example_outputs": tuple(
                    {"mol_weight": o["mol_weight"] * 1.01} for o in card.example_outputs
                ),
            }
        )
        check = check_examples(spec, wrong)
        assert check.severity == "error" and len(check.differences) == 5
        assert "| `CCO` | mol_weight |" in check.markdown()
        variable = ModelCard(**{**wrong.__dict__, "consistency": "Variable"})
        assert check_examples(spec, variable).severity == "warn"


def test_a_variable_model_gets_its_reproducibility_check_as_warn() -> None:
    fixed = resolve_spec("m", HTTP, SOURCE, CARD)
    assert check_settings(fixed).reproducibility.severity == "ERROR"
    variable = ModelCard(**{**CARD.__dict__, "consistency": "Variable"})
    spec = resolve_spec("m", HTTP, SOURCE, variable)
    assert check_settings(spec).reproducibility.severity == "WARN"
    assert spec.code_version == fixed.code_version  # checks are not the code version


@pytest.mark.parametrize("repro", [["rtol"], 0.5, "WARN"])
def test_a_variable_model_with_a_reproducibility_section_not_an_object_is_refused_by_name(
    repro,
) -> None:
    variable = ModelCard(**{**CARD.__dict__, "consistency": "Variable"})
    request = {**HTTP, "checks": {"reproducibility": repro}}
    with pytest.raises(ModelError, match=r"m.json: checks.reproducibility must be an object"):
        resolve_spec("m", request, SOURCE, variable)
