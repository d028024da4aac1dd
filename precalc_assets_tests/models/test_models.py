"""Model specs, the catalog and running models.

The `python` runner imports `module:function`; the fake models below are reached
through this module's own import name, so no package has to be installed.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors, rdFingerprintGenerator

from precalc_assets import layout
from precalc_assets.chem import canonicalize_rows
from precalc_assets.inputs.model_requests import (
    load_model_spec,
    parse_request,
    register_model,
    resolve_spec,
)
from precalc_assets.models.catalog import builtin_ids, spec_from_request
from precalc_assets.models.options import Reach
from precalc_assets.models.runners import RUNNER_CLASSES, options_reaching, run_model, runner_for
from precalc_assets.models.spec import (
    KEY_COLUMNS,
    RESERVED_COLUMNS,
    ModelError,
    ModelSpec,
    OutputColumn,
)
from precalc_assets.models.tables import item_size
from precalc_assets.stores.dynamodb import ITEM_SIZE_LIMIT

SMILES = ["CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "[Na+].[Cl-]"]
SOURCE = "inputs/models/my-model.json"


@pytest.fixture(scope="module")
def molecules() -> tuple[list[str], list[Chem.Mol]]:
    accepted, mols, rejected = canonicalize_rows(list(enumerate(SMILES)))
    assert not rejected
    return [m.smiles for m in accepted], mols


# ----------------------------------------------------------------- fake python models


def fake_scores(smiles: list[str]) -> list[dict]:
    return [{"extra": "ignored", "score": float(len(s)), "label": s[:1]} for s in smiles]


def fake_one_row(smiles: list[str]) -> list[dict]:
    return [{"score": 1.0}]


def fake_raises(smiles: list[str]) -> list[dict]:
    raise RuntimeError("CUDA out of memory")


def fake_wrong_column(smiles: list[str]) -> dict:
    return {"prob": [0.5] * len(smiles)}


def fake_scalar(smiles: list[str]) -> float:
    return 0.5


def fake_ragged(smiles: list[str]) -> dict:
    return {"score": [0.5] * len(smiles), "label": ["x"]}


def fake_indexed_frame(smiles: list[str]) -> pd.DataFrame:
    n = len(smiles)
    return pd.DataFrame({"label": ["y"] * n, "score": range(n)}, index=range(100, 100 + n))


def python_spec(function: str, model_id: str = "fake-model", **extra: object) -> ModelSpec:
    request = {
        "runner": "python",
        "callable": f"{__name__}:{function}",
        "columns": [{"name": "score", "dtype": "float"}, {"name": "label", "dtype": "str"}],
        **extra,
    }
    return spec_from_request(model_id, request, SOURCE)


# ----------------------------------------------------------------------- the catalog


def test_builtin_ids() -> None:
    assert builtin_ids() == ["eos3b5e", "morgan-fp2048", "rdkit-physchem"]


def test_builtin_specs_declare_their_columns() -> None:
    eos = resolve_spec("eos3b5e")
    assert (eos.model_id, eos.runner) == ("eos3b5e", "rdkit")
    assert eos.columns == (OutputColumn("mol_weight", "float", min=0.0),)

    morgan = resolve_spec("morgan-fp2048")
    (bits,) = morgan.columns
    assert (bits.name, bits.dtype, bits.length, bits.min, bits.max) == ("bits", "int", 2048, 0, 1)

    physchem = resolve_spec("rdkit-physchem")
    assert len(physchem.columns) == 8
    assert physchem.column_names[:2] == ["mol_logp", "tpsa"]
    assert all(c.dtype == "float" and c.length is None for c in physchem.columns)
    assert len(set(physchem.column_names)) == 8


@pytest.mark.parametrize("payload", [b"", b"  \n", b"{}", "{}", b'{"description": "any"}'])
def test_a_bare_request_for_a_builtin_means_the_builtin(payload: bytes | str) -> None:
    assert parse_request("eos3b5e", payload, "inputs/models/eos3b5e.json") == resolve_spec(
        "eos3b5e"
    )


def test_unknown_model_id_lists_the_builtins() -> None:
    with pytest.raises(ModelError) as info:
        parse_request("eos9zzz", b"{}", "inputs/models/eos9zzz.json")
    message = str(info.value)
    assert "inputs/models/eos9zzz.json" in message
    assert "'eos9zzz'" in message
    for model_id in builtin_ids():
        assert model_id in message
    assert '"runner"' in message  # ... and how to declare any other model


def test_unknown_model_id_without_a_source_names_the_model() -> None:
    with pytest.raises(ModelError, match="model 'nope'"):
        resolve_spec("nope")


@pytest.mark.parametrize(
    "payload", [b"{", b'{"runner": "python",}', b"not json", b"\xef\xbb\xbf{'a': 1}"]
)
def test_malformed_json_names_the_source(payload: bytes) -> None:
    with pytest.raises(ModelError) as info:
        parse_request("eos3b5e", payload, "s3://bucket/inputs/models/eos3b5e.json")
    message = str(info.value)
    assert message.startswith("s3://bucket/inputs/models/eos3b5e.json: ")
    assert "not valid JSON" in message


@pytest.mark.parametrize(
    ("payload", "kind"), [(b"[]", "list"), (b"null", "NoneType"), (b"3", "int")]
)
def test_request_must_be_an_object(payload: bytes, kind: str) -> None:
    with pytest.raises(ModelError, match=f"JSON object, got {kind}"):
        parse_request("eos3b5e", payload, SOURCE)


@pytest.mark.parametrize("model_id", ["Eos3b5e", "eos|3b5e", "a/b", ""])
def test_invalid_model_id_is_a_model_error(model_id: str) -> None:
    with pytest.raises(ModelError, match="invalid model ID"):
        parse_request(model_id, b"{}", SOURCE)
    with pytest.raises(ModelError, match="invalid model ID"):
        spec_from_request(model_id, {"runner": "python", "columns": ["x"]}, SOURCE)


def test_request_with_a_spec_defines_the_model() -> None:
    payload = json.dumps(
        {
            "runner": "python",
            "callable": "pkg.mod:fn",
            "columns": ["score", {"name": "fp", "dtype": "int", "length": 16, "min": 0}],
            "description": "demo",
            "version": 3,
        }
    )
    spec = parse_request("my-model", payload.encode(), SOURCE)
    assert spec.model_id == "my-model"
    assert spec.runner == "python"
    assert spec.options == {"callable": "pkg.mod:fn"}
    assert spec.columns == (OutputColumn("score"), OutputColumn("fp", "int", length=16, min=0))
    assert (spec.description, spec.version) == ("demo", "3")


def test_a_spec_overrides_a_builtin_of_the_same_id() -> None:
    spec = parse_request(
        "eos3b5e", b'{"runner": "python", "callable": "m:f", "columns": ["w"]}', SOURCE
    )
    assert spec.runner == "python" and spec.column_names == ["w"]


# ---------------------------------------------------------------------- spec parsing


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        ({"runner": "docker", "columns": ["x"]}, "runner 'docker'; use one of rdkit, python"),
        ({"runner": None, "columns": ["x"]}, "runner None"),
        ({"runner": "python", "columns": [{"name": "x", "dtype": "double"}]}, "dtype 'double'"),
        ({"runner": "python", "columns": ["x", {"name": "x"}]}, "declares a column name twice"),
        ({"runner": "python"}, "non-empty 'columns' list"),
        ({"runner": "python", "columns": []}, "non-empty 'columns' list"),
        ({"runner": "python", "columns": "x"}, "non-empty 'columns' list"),
        ({"runner": "python", "columns": [{"dtype": "float"}]}, "column 0 of model"),
        ({"runner": "python", "columns": [{"name": ""}]}, "column 0 of model"),
        ({"runner": "python", "columns": [3]}, "column 0 of model"),
        ({"runner": "python", "columns": [{"name": "x", "unit": "Da"}]}, "unknown fields ['unit']"),
        ({"runner": "python", "columns": [{"name": "x", "length": "2048"}]}, "'length'"),
        ({"runner": "python", "columns": [{"name": "x", "length": 0}]}, "'length'"),
        ({"runner": "python", "columns": [{"name": "x", "length": True}]}, "'length'"),
        ({"runner": "python", "columns": [{"name": "x", "nullable": "no"}]}, "'nullable'"),
        ({"runner": "python", "columns": [{"name": "x", "min": "0"}]}, "'min'"),
        ({"runner": "python", "columns": [{"name": "x", "max": [1]}]}, "'max'"),
    ],
)
def test_bad_specs_are_refused_with_the_source_and_model(request_: dict, says: str) -> None:
    with pytest.raises(ModelError) as info:
        spec_from_request("my-model", request_, SOURCE)
    message = str(info.value)
    assert says in message
    assert message.startswith(f"{SOURCE}: ")
    assert "'my-model'" in message


def test_valid_column_options_are_accepted() -> None:
    spec = spec_from_request(
        "m",
        {
            "runner": "python",
            "columns": [
                {"name": "p", "dtype": "float", "nullable": True, "min": 0, "max": 1.0},
                {"name": "v", "dtype": "bool", "length": 3},
                {"name": "s", "dtype": "str"},
            ],
        },
        SOURCE,
    )
    assert spec.columns == (
        OutputColumn("p", "float", nullable=True, min=0, max=1.0),
        OutputColumn("v", "bool", length=3),
        OutputColumn("s", "str"),
    )
    assert [c.width() for c in spec.columns] == [1, 3, 1]


# ---------------------------------------------------------------------- code version


BASE_REQUEST = {
    "runner": "python",
    "callable": "pkg.mod:fn",
    "columns": [{"name": "score", "dtype": "float", "min": 0}],
}


def code_version(**changes: object) -> str:
    return spec_from_request("my-model", {**BASE_REQUEST, **changes}, SOURCE).code_version


def test_code_version_is_stable() -> None:
    version = code_version()
    assert re.fullmatch(r"my-model-v1-[0-9a-f]{12}", version)
    assert code_version() == version
    reordered = dict(reversed(list(BASE_REQUEST.items())))
    assert spec_from_request("my-model", reordered, "elsewhere.json").code_version == version
    assert resolve_spec("eos3b5e").code_version == resolve_spec("eos3b5e").code_version


@pytest.mark.parametrize(
    "changes",
    [
        {"callable": "pkg.mod:fn2"},
        {"columns": [{"name": "score", "dtype": "int", "min": 0}]},
        {"columns": [{"name": "score2", "dtype": "float", "min": 0}]},
        {"columns": [{"name": "score", "dtype": "float", "min": 1}]},
        {"columns": [{"name": "score", "dtype": "float"}]},
        {"columns": [{"name": "score", "dtype": "float", "min": 0, "nullable": True}]},
        {"columns": [{"name": "score", "dtype": "float", "min": 0}, "extra"]},
        {"version": "2"},
        {"scale": 50},
    ],
)
def test_code_version_changes_with_the_spec(changes: dict) -> None:
    assert code_version(**changes) != code_version()


@pytest.mark.parametrize(
    "changes", [{"batch_size": 50}, {"concurrency": 4}, {"timeout_s": 9}, {"checks": {}}]
)
def test_how_a_model_is_reached_is_not_its_code_version(changes: dict) -> None:
    assert code_version(**changes) == code_version()


def test_the_options_that_say_how_a_model_is_reached_are_those_documented() -> None:
    """docs/contracts.md, section 6: declared once, on the runners' options."""
    assert set(options_reaching(Reach.TUNING)) == {
        "batch_size", "concurrency", "timeout_s", "ready_timeout_s", "environments"
    }  # fmt: skip
    assert set(options_reaching(Reach.LOCATION)) == {
        "url", "repo", "cwd", "run_columns", "python", "python_version", "env", "pass_env"
    }  # fmt: skip
    assert set(options_reaching(Reach.LOCAL_FILE)) == {"repo", "cwd", "run_columns", "python"}


HUB = {"runner": "http", "url": "http://127.0.0.1:8080", "columns": ["a", "b", "c"]}


def test_a_hub_models_columns_are_nullable_unless_marked_not_null() -> None:
    spec = spec_from_request("hub", HUB, SOURCE)
    assert [c.nullable for c in spec.columns] == [True, True, True]
    spec = spec_from_request("hub", {**HUB, "not_null": ["b"]}, SOURCE)
    assert [c.nullable for c in spec.columns] == [True, False, True]
    assert "not_null" not in spec.options  # a spec key, not a runner option
    declared = {**HUB, "columns": ["a", {"name": "b", "nullable": False}, "c"]}
    nullable = [c.nullable for c in spec_from_request("hub", declared, SOURCE).columns]
    assert nullable == [True, False, True]
    # Other runners keep the rule: a column is not nullable unless marked so.
    python = {"runner": "python", "callable": "m:f", "columns": ["a", "b"], "nullable": ["a"]}
    assert [c.nullable for c in spec_from_request("py", python, SOURCE).columns] == [True, False]
    assert not any(c.nullable for c in resolve_spec("eos3b5e").columns)
    assert spec_from_request("hub", {**HUB, "not_null": ["b"]}, SOURCE).code_version != (
        spec_from_request("hub", HUB, SOURCE).code_version
    )


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"not_null": ["z"]}, r"name column\(s\) \['z'\] that the model does not have"),
        ({"not_null": "a"}, r"'not_null' must be a list of column names"),
        ({"nullable": [1]}, r"'nullable' must be a list of column names"),
        ({"not_null": ["a"], "nullable": ["a"]}, r"\['a'\] are in both 'not_null' and"),
    ],
)
def test_bad_nullability_lists_name_the_model_and_the_fix(changes: dict, says: str) -> None:
    with pytest.raises(ModelError, match=says) as raised:
        spec_from_request("hub", {**HUB, **changes}, SOURCE)
    assert str(raised.value).startswith(f"{SOURCE}: model 'hub'")


def test_a_hub_model_is_given_the_librarys_text_unless_it_asks_for_canonical() -> None:
    spec = spec_from_request("hub", HUB, SOURCE)
    canonical = spec_from_request("hub", {**HUB, "input_smiles": "canonical"}, SOURCE)
    assert (spec.input_smiles, canonical.input_smiles) == ("library", "canonical")
    assert spec.code_version != canonical.code_version
    assert resolve_spec("eos3b5e").input_smiles == "canonical"


def test_builtins_have_distinct_code_versions() -> None:
    versions = {resolve_spec(m).code_version for m in builtin_ids()}
    assert len(versions) == len(builtin_ids())


# ------------------------------------------------------------------- running models


def test_eos3b5e_is_rdkit_molwt(molecules: tuple[list[str], list[Chem.Mol]]) -> None:
    smiles, mols = molecules
    out = run_model(resolve_spec("eos3b5e"), smiles, mols)
    assert list(out.columns) == ["mol_weight"]
    expected = [Descriptors.MolWt(Chem.MolFromSmiles(s)) for s in smiles]
    assert out["mol_weight"].tolist() == expected
    assert out["mol_weight"].iloc[0] == pytest.approx(46.069, abs=1e-3)  # ethanol


def test_morgan_fp2048_returns_2048_bits(molecules: tuple[list[str], list[Chem.Mol]]) -> None:
    smiles, mols = molecules
    out = run_model(resolve_spec("morgan-fp2048"), smiles, mols)
    assert list(out.columns) == ["bits"] and len(out) == len(smiles)
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    for cell, s in zip(out["bits"], smiles, strict=True):
        bits = np.asarray(cell)
        assert bits.shape == (2048,)
        assert set(np.unique(bits)) <= {0, 1}
        assert bits.sum() > 0
        expected = generator.GetFingerprintAsNumPy(Chem.MolFromSmiles(s))
        np.testing.assert_array_equal(bits, expected)
    assert not np.array_equal(out["bits"][0], out["bits"][1])


def test_rdkit_physchem(molecules: tuple[list[str], list[Chem.Mol]]) -> None:
    smiles, mols = molecules
    spec = resolve_spec("rdkit-physchem")
    out = run_model(spec, smiles, mols)
    assert list(out.columns) == spec.column_names
    benzene = out.iloc[smiles.index("c1ccccc1")]
    assert (benzene["ring_count"], benzene["heavy_atoms"], benzene["h_donors"]) == (1, 6, 0)
    assert benzene["fraction_csp3"] == 0.0
    assert out["tpsa"].iloc[smiles.index("CCO")] == pytest.approx(20.23)


@pytest.mark.parametrize("model_id", ["eos3b5e", "morgan-fp2048", "rdkit-physchem"])
def test_builtins_are_deterministic(
    model_id: str, molecules: tuple[list[str], list[Chem.Mol]]
) -> None:
    smiles, mols = molecules
    spec = resolve_spec(model_id)
    first = run_model(spec, smiles, mols)
    again = run_model(spec, smiles, [Chem.MolFromSmiles(s) for s in smiles])
    pd.testing.assert_frame_equal(
        first.map(lambda v: np.asarray(v).tolist()), again.map(lambda v: np.asarray(v).tolist())
    )


@pytest.mark.parametrize("model_id", ["eos3b5e", "morgan-fp2048", "rdkit-physchem"])
def test_no_molecules_gives_an_empty_frame_with_the_declared_columns(model_id: str) -> None:
    spec = resolve_spec(model_id)
    out = run_model(spec, [], [])
    assert len(out) == 0
    assert list(out.columns) == spec.column_names


def test_python_runner_keeps_the_declared_columns_in_order() -> None:
    out = run_model(python_spec("fake_scores"), ["CCO", "c1ccccc1"], [])
    assert list(out.columns) == ["score", "label"]
    assert out.to_dict("list") == {"score": [3.0, 8.0], "label": ["C", "c"]}


def test_model_output_index_is_reset() -> None:
    out = run_model(python_spec("fake_indexed_frame"), ["C", "CC", "CCC"], [])
    assert list(out.index) == [0, 1, 2]
    assert out["score"].tolist() == [0, 1, 2]


def test_wrong_row_count_names_the_model() -> None:
    with pytest.raises(ModelError) as info:
        run_model(python_spec("fake_one_row"), ["C", "CC", "CCC"], [], where=" on slice 'lib-0003'")
    message = str(info.value)
    assert "'fake-model'" in message
    assert "returned 1 rows for 3 molecules on slice 'lib-0003'" in message


def test_a_failing_model_is_a_model_error() -> None:
    with pytest.raises(ModelError) as info:
        run_model(python_spec("fake_raises"), ["C"], [], where=" on slice 'lib-0000'")
    message = str(info.value)
    assert "'fake-model' failed on slice 'lib-0000'" in message
    assert "RuntimeError: CUDA out of memory" in message
    assert isinstance(info.value.__cause__, RuntimeError)


def test_missing_declared_column_names_the_model_and_column() -> None:
    with pytest.raises(ModelError) as info:
        run_model(python_spec("fake_wrong_column"), ["C", "CC"], [])
    message = str(info.value)
    assert "'fake-model'" in message
    assert "['score', 'label']" in message  # what is missing
    assert "['prob']" in message  # what came back


@pytest.mark.parametrize("function", ["fake_scalar", "fake_ragged"])
def test_output_that_is_not_a_table_is_a_model_error(function: str) -> None:
    with pytest.raises(ModelError, match="'fake-model' returned .* not a table"):
        run_model(python_spec(function), ["C", "CC"], [])


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("no_colon", "'callable' must be 'package.module:function'"),
        ("", "'callable' must be 'package.module:function'"),
        ("precalc_no_such_module:fn", "cannot import"),
        (f"{__name__}:no_such_function", "cannot import"),
    ],
)
def test_python_runner_with_a_bad_callable(target: str, says: str) -> None:
    spec = spec_from_request(
        "fake-model", {"runner": "python", "callable": target, "columns": ["x"]}, SOURCE
    )
    with pytest.raises(ModelError, match=says):
        run_model(spec, ["C"], [])


def test_runner_without_an_implementation_is_a_model_error() -> None:
    spec = ModelSpec("fake-model", "quantum", (OutputColumn("x"),))
    with pytest.raises(ModelError, match="runner 'quantum' is not available"):
        runner_for(spec)


def test_rdkit_runner_with_an_unknown_function() -> None:
    spec = ModelSpec("fake-model", "rdkit", (OutputColumn("x"),), options={"function": "qed"})
    with pytest.raises(ModelError, match="no built-in RDKit function 'qed'"):
        run_model(spec, ["C"], [Chem.MolFromSmiles("C")])


def test_a_request_may_name_every_runner_of_the_registry_and_no_other() -> None:
    with pytest.raises(ModelError) as info:
        spec_from_request("my-model", {"runner": "docker", "columns": ["x"]}, SOURCE)
    assert f"use one of {', '.join(RUNNER_CLASSES)} (or omit" in str(info.value)
    assert tuple(RUNNER_CLASSES) == ("rdkit", "python", "http", "command")


# ------------------------------------------------------------ unreadable requests


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe{\x00}\x00",  # UTF-16 (with its BOM)
        '{"runner": "python", "description": "caf\u00e9"}'.encode("latin-1"),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # a binary file
    ],
    ids=["utf-16", "latin-1", "binary"],
)
def test_a_request_that_is_not_utf8_is_a_model_error(payload: bytes) -> None:
    """It used to raise UnicodeDecodeError, which stopped every sensor tick."""
    with pytest.raises(ModelError) as info:
        parse_request("eos3b5e", payload, "s3://bucket/inputs/models/eos3b5e.json")
    message = str(info.value)
    assert message.startswith("s3://bucket/inputs/models/eos3b5e.json: not UTF-8 text")
    assert "save the request as UTF-8 JSON" in message


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,
        b'{"runner": "python", "columns": ["x"], "opt": ' + b"[" * 40 + b"]" * 40 + b"}",
    ],
    ids=["100k-deep-list", "100k-deep-object", "40-deep-option"],
)
def test_a_deeply_nested_request_is_a_model_error(payload: bytes) -> None:
    """100k levels raised RecursionError in the decoder; 40 levels decode, but would
    break what reads the spec later (its code version)."""
    with pytest.raises(ModelError) as info:
        parse_request("my-model", payload, SOURCE)
    assert str(info.value).startswith(f"{SOURCE}: JSON nested more than 32 levels deep")


def test_a_request_nested_to_the_limit_is_accepted() -> None:
    option = json.loads("[" * 31 + "]" * 31)  # 31 levels under the request object
    spec = parse_request(
        "my-model", json.dumps({"runner": "python", "columns": ["x"], "o": option}), SOURCE
    )
    assert spec.options["o"] == option and spec.code_version


def test_a_huge_request_is_refused_by_its_size() -> None:
    payload = json.dumps({"runner": "python", "columns": ["x"], "pad": "x" * (1 << 20)})
    with pytest.raises(ModelError) as info:
        parse_request("my-model", payload.encode(), SOURCE)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}: the model request is {len(payload):,} bytes")
    assert "more than the limit of 1,048,576" in message


def test_a_huge_spec_file_is_refused_before_it_is_read(local_project, tmp_path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(3 << 30)  # 3 GiB, sparse: reading it would take the memory
    with pytest.raises(ModelError, match=f"{path}: the model request is 3,221,225,472 bytes"):
        register_model(local_project.store(), "my-model", local_project.policy(), path)
    assert not local_project.store().exists(layout.model_request("my-model"))


@pytest.mark.parametrize(
    "request_",
    [
        {"checks": [1]},
        {"checks": "strict"},
        {"checks": {"drift": 5}},
        {"checks": {"drift": "x"}},
        {"checks": {"readback": {"sample": float("inf")}}},
        {"checks": {"readback": {"sample": float("nan")}}},
    ],
)
def test_unusable_checks_are_a_model_error(request_: dict) -> None:
    """These raised TypeError, ValueError or OverflowError before."""
    with pytest.raises(ModelError) as info:
        parse_request("eos3b5e", json.dumps(request_).encode(), SOURCE)
    assert str(info.value).startswith(f"{SOURCE}: ")
    assert "checks" in str(info.value)


def test_an_unreadable_request_in_storage_names_its_uri(local_project) -> None:
    store = local_project.store()
    key = layout.model_request("my-model")
    store.put_bytes(key, b"\xff" + b"[" * 100_000)
    with pytest.raises(ModelError) as info:
        load_model_spec(store, "my-model", local_project.policy())
    assert str(info.value).startswith(f"{store.uri(key)}: not UTF-8 text")


# ------------------------------------------------------------ reserved column names


@pytest.mark.parametrize("name", RESERVED_COLUMNS)
@pytest.mark.parametrize("shorthand", [False, True])
def test_output_columns_may_not_take_a_key_column_name(name: str, shorthand: bool) -> None:
    column = name if shorthand else {"name": name, "dtype": "float"}
    with pytest.raises(ModelError) as info:
        spec_from_request("my-model", {"runner": "python", "columns": ["ok", column]}, SOURCE)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}: column {name!r} of model 'my-model' has a reserved name")
    assert "row, inchikey, smiles, input, reason, detail" in message


def test_the_reserved_names_are_the_key_columns_input_and_the_reasons() -> None:
    assert RESERVED_COLUMNS == ("row", "inchikey", "smiles", "input", "reason", "detail")
    assert RESERVED_COLUMNS[:3] == KEY_COLUMNS


# ------------------------------------------------------------ DynamoDB item size


def vector_request(length: int, dtype: str = "float") -> dict:
    return {
        "runner": "python",
        "callable": "pkg.mod:fn",
        "columns": [{"name": "v", "dtype": dtype, "length": length}],
    }


@pytest.mark.parametrize("dtype", ["float", "int"])
def test_a_model_whose_items_cannot_fit_dynamodb_is_refused(dtype: str) -> None:
    """100,000 numbers need more than 2 MB: every partition would fail at publication."""
    request = vector_request(100_000, dtype)
    with pytest.raises(ModelError) as info:
        parse_request("wide", json.dumps(request).encode(), SOURCE)
    size = item_size(spec_from_request("wide", request, SOURCE))
    message = str(info.value)
    assert message.startswith(f"{SOURCE}: model 'wide' could publish serving items of ")
    assert f"{size.item_bytes:,} bytes" in message and size.item_bytes > 2_200_000
    assert "100,000 output values" in message
    assert f"DynamoDB's item limit of {ITEM_SIZE_LIMIT:,} bytes" in message
    assert f"declare at most {size.numbers_that_fit:,} output values" in message


def test_the_widest_model_that_fits_is_accepted_and_one_more_value_is_not() -> None:
    widest = item_size(spec_from_request("wide", vector_request(1), SOURCE)).numbers_that_fit
    assert widest > 18_000
    spec = parse_request("wide", json.dumps(vector_request(widest)).encode(), SOURCE)
    assert item_size(spec).fits and item_size(spec).item_bytes <= ITEM_SIZE_LIMIT
    with pytest.raises(ModelError, match="could publish serving items"):
        parse_request("wide", json.dumps(vector_request(widest + 1)).encode(), SOURCE)


def test_an_absurd_vector_length_is_refused_quickly() -> None:
    with pytest.raises(ModelError, match="could publish serving items"):
        parse_request("wide", json.dumps(vector_request(10**15)).encode(), SOURCE)
