"""The `http` runner against the stand-in hub model server on loopback (no mocks):
describing a model, batching, halving on model failures, retries, and every answer
that must stop a partition with a `ModelError` naming the model and the fix."""

from __future__ import annotations

import email.utils
import math
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import rdkit
from rdkit import Chem
from rdkit.Chem import Descriptors

from precalc_assets.models.reasons import MODEL_FAILED, WRONG_TYPE
from precalc_assets.models.runners import http_client
from precalc_assets.models.runners.batched import HOPELESS_AFTER
from precalc_assets.models.runners.http import HttpRunner
from precalc_assets.models.runners.http_client import retry_after_s
from precalc_assets.models.spec import ModelError, ModelSpec, OutputColumn
from precalc_assets_tests.model_server import EXAMPLE_INPUTS, ModelServer

MODEL = "eos3b5e"
NCI = Path(rdkit.__file__).parent / "Data" / "NCI" / "first_5K.smi"


@pytest.fixture(scope="module")
def molecules() -> list[str]:
    """300 distinct canonical SMILES of RDKit's NCI sample (some with bromine)."""
    seen: dict[str, None] = {}
    for line in NCI.read_text().splitlines():
        mol = Chem.MolFromSmiles(line.split()[0])
        if mol is not None:
            seen[Chem.MolToSmiles(mol)] = None
        if len(seen) == 300:
            break
    return list(seen)


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as model:
        yield model


@pytest.fixture
def server2() -> Iterator[ModelServer]:
    with ModelServer(columns=("mol_weight", "heavy_atoms")) as model:
        yield model


def spec(url: str, columns: tuple[str, ...] = ("mol_weight",), **options) -> ModelSpec:
    dtypes = {"heavy_atoms": "int"}
    return ModelSpec(
        MODEL,
        "http",
        tuple(OutputColumn(c, dtypes.get(c, "float")) for c in columns),
        options={"url": url, **options},
    )


def weight(smiles: str) -> float:
    return Descriptors.MolWt(Chem.MolFromSmiles(smiles))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_weights(frame, smiles: list[str]) -> None:
    for s, value in zip(smiles, frame["mol_weight"], strict=True):
        assert math.isclose(value, weight(s), rel_tol=1e-9), s


# ------------------------------------------------------------------ describe


def test_describe_reads_columns_types_and_examples(server: ModelServer, server2: ModelServer):
    card = HttpRunner.describe(MODEL, {"url": server.url})
    assert (card.source, card.identifier, card.slug) == (server.url, MODEL, "molecular-weight")
    assert card.consistency == "Fixed"
    assert [(c.name, c.dtype) for c in card.columns] == [("mol_weight", "float")]
    assert card.example_inputs == EXAMPLE_INPUTS
    assert [o["mol_weight"] for o in card.example_outputs] == [
        weight(s) for s in EXAMPLE_INPUTS
    ]  # JSON floats round-trip exactly

    # The hub's server collapses float + integer to one `Output Type`, "Float".
    card = HttpRunner.describe(MODEL, {"url": server2.url + "/"})
    assert [(c.name, c.dtype) for c in card.columns] == [
        ("mol_weight", "float"),
        ("heavy_atoms", "float"),
    ]
    assert card.collapsed_types and "give 'run_columns'" in card.warnings[0]
    assert card.example_outputs[0] == {"mol_weight": 46.069, "heavy_atoms": 3.0}

    server2.per_column_types = True  # a server with one `Output Type` per column
    card = HttpRunner.describe(MODEL, {"url": server2.url + "/"})
    assert [c.dtype for c in card.columns] == ["float", "int"] and not card.collapsed_types
    assert card.example_outputs[0] == {"mol_weight": 46.069, "heavy_atoms": 3}


def test_run_columns_give_each_column_its_own_type(server2: ModelServer, tmp_path: Path):
    columns = tmp_path / "run_columns.csv"
    columns.write_text(
        "name,type,direction,description\nmol_weight,float,,\nheavy_atoms,integer,,\n"
    )
    card = HttpRunner.describe(MODEL, {"url": server2.url, "run_columns": str(columns)})
    assert [c.dtype for c in card.columns] == ["float", "int"] and card.warnings == ()
    assert card.example_outputs[0] == {"mol_weight": 46.069, "heavy_atoms": 3}
    assert type(card.example_outputs[0]["heavy_atoms"]) is int
    columns.write_text("name,type\nheavy_atoms,integer\nmol_weight,float\n")
    with pytest.raises(ModelError, match="does not list the columns the server at .* answers"):
        HttpRunner.describe(MODEL, {"url": server2.url, "run_columns": str(columns)})


def test_describe_without_example_routes_gives_no_examples(server: ModelServer):
    server.examples = False
    card = HttpRunner.describe(MODEL, {"url": server.url})
    assert card.example_inputs == () and card.example_outputs == ()
    assert [c.name for c in card.columns] == ["mol_weight"]


def test_describe_of_an_unreachable_url_says_how_to_start_the_model():
    url = f"http://someone:s3cret@127.0.0.1:{closed_port()}"
    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        HttpRunner.describe(MODEL, {"url": url, "ready_timeout_s": 0.6})
    assert time.monotonic() - started < 3
    message = str(caught.value)
    assert "no model server answered at http://127.0.0.1:" in message
    assert "after 0.6 s" in message and f"ersilia serve {MODEL}" in message
    assert f"ersiliaos/{MODEL}" in message and "'url'" in message
    assert "s3cret" not in message and "someone" not in message


# ------------------------------------------------------------------ predictions


def test_values_are_rdkit_molwt_in_input_order(server: ModelServer, molecules: list[str]):
    smiles = molecules[:50] + molecules[:10]  # repeated molecules are asked once
    frame = HttpRunner(spec(server.url, batch_size=16)).predict(smiles, [])
    assert list(frame.columns) == ["mol_weight", "reason", "detail"]
    assert_weights(frame, smiles)
    assert frame["reason"].isna().all()
    assert sorted(server.batch_sizes) == [2, 16, 16, 16]
    assert server.gets == 1  # one readiness GET before the first POST


def test_a_failing_batch_is_halved_down_to_the_bromine_molecules(
    server: ModelServer, molecules: list[str]
):
    server.fail_on = "Br"
    bromine = {s for s in molecules if "Br" in s}
    assert 3 <= len(bromine) < 30 and not all("Br" in s for s in molecules[:HOPELESS_AFTER])
    frame = HttpRunner(spec(server.url, batch_size=64, concurrency=2)).predict(molecules, [])
    failed = frame["reason"].notna()
    assert {s for s, f in zip(molecules, failed, strict=True) if f} == bromine
    assert set(frame.loc[failed, "reason"]) == {MODEL_FAILED}
    # The model's own error: the last line of the traceback in the server's 500 body.
    assert set(frame.loc[failed, "detail"]) == {
        "ValueError: cannot handle a molecule containing 'Br'"
    }
    assert frame.loc[failed, "mol_weight"].isna().all()
    kept = [s for s in molecules if s not in bromine]
    assert_weights(frame[~failed], kept)
    assert 1 in server.batch_sizes  # isolated down to single molecules


def test_a_plain_500_keeps_what_the_server_said(server: ModelServer, molecules: list[str]):
    server.fail_on, server.plain_500 = "Br", True
    smiles = [s for s in molecules if "Br" in s][:1] + molecules[:3]
    frame = HttpRunner(spec(server.url, batch_size=4)).predict(smiles, [])
    assert frame["reason"].tolist() == [MODEL_FAILED, None, None, None]
    assert frame["detail"][0] == "HTTP 500: Internal Server Error"


def test_an_integer_column_answered_as_floats_is_stored_as_integers(
    server2: ModelServer, molecules: list[str]
):
    smiles = molecules[:20]
    frame = HttpRunner(spec(server2.url, ("mol_weight", "heavy_atoms"))).predict(smiles, [])
    assert str(frame["heavy_atoms"].dtype) == "Int64"
    assert frame["heavy_atoms"].tolist() == [
        Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in smiles
    ]
    assert frame["reason"].isna().all()


def test_a_non_integral_value_in_an_integer_column_is_that_rows_failure(
    server: ModelServer, molecules: list[str]
):
    smiles = molecules[:5]  # molecular weights are not integers
    model = ModelSpec(MODEL, "http", (OutputColumn("mol_weight", "int"),), {"url": server.url})
    frame = HttpRunner(model).predict(smiles, [])
    assert set(frame["reason"]) == {WRONG_TYPE}
    assert frame["detail"][0] == f"mol_weight: {weight(smiles[0])!r} is not an integer"
    assert frame["mol_weight"].isna().all()


def test_a_null_output_is_null_in_its_own_column_only():
    metal = "CCC1=[O+][Cu]2([O+]=C(CC)C1)[O+]=C(CC)CC(=[O+]2)CC"  # Gasteiger charges: NaN
    columns = ("mol_weight", "max_gasteiger_charge")
    with ModelServer(columns=columns) as server:
        model = ModelSpec(
            MODEL,
            "http",
            (OutputColumn("mol_weight"), OutputColumn("max_gasteiger_charge", nullable=True)),
            {"url": server.url},
        )
        frame = HttpRunner(model).predict(["CCO", metal], [])
    assert frame["reason"].isna().all()
    assert math.isclose(frame["mol_weight"][1], weight(metal), rel_tol=1e-9)
    assert math.isnan(frame["max_gasteiger_charge"][1])
    assert frame["max_gasteiger_charge"][0] > 0


def test_a_model_that_fails_on_everything_stops_the_partition(
    server: ModelServer, molecules: list[str]
):
    server.fail_on = "C"
    smiles = [s for s in molecules if "C" in s][:8]
    with pytest.raises(ModelError, match="failed on every molecule"):
        HttpRunner(spec(server.url, batch_size=8)).predict(smiles, [])


def test_429_is_retried_after_the_time_retry_after_asks(server: ModelServer, molecules):
    server.every_nth_429, server.retry_after = 3, "0.3"
    logged: list[str] = []
    smiles = molecules[:12]
    frame = HttpRunner(spec(server.url, batch_size=2, concurrency=1), logged.append).predict(
        smiles, []
    )
    assert_weights(frame, smiles)
    assert server.requests == 6 + 2  # POSTs 3 and 6 answered 429, then retried
    gaps = [b - a for a, b in zip(server.post_times, server.post_times[1:], strict=False)]
    assert gaps[2] >= 0.3 and gaps[5] >= 0.3  # after the 3rd and 6th POST
    assert sum(gap >= 0.3 for gap in gaps) == 2
    assert sum("HTTP 429" in line and "retry 1/" in line for line in logged) == 2


@pytest.mark.parametrize(
    ("fault", "said"), [("unavailable", "HTTP 503"), ("reset", "no connection (ConnectionError)")]
)
def test_503_and_dropped_connections_are_retried_with_backoff(
    server: ModelServer, molecules: list[str], fault: str, said: str
):
    setattr(server, fault, 2)
    logged: list[str] = []
    frame = HttpRunner(spec(server.url, batch_size=10), logged.append).predict(molecules[:10], [])
    assert_weights(frame, molecules[:10])
    assert server.requests == 3
    retries = [line for line in logged if said in line]
    assert len(retries) == 2 and "retry 1/7" in retries[0] and "retry 2/7" in retries[1]


def test_a_server_gone_after_it_was_ready_is_a_model_error(
    monkeypatch: pytest.MonkeyPatch, molecules: list[str]
):
    monkeypatch.setattr(http_client, "MAX_ATTEMPTS", 2)
    monkeypatch.setattr(http_client, "FIRST_BACKOFF_S", 0.01)
    logged: list[str] = []
    with ModelServer() as server:
        url = server.url.replace("http://", "http://someone:s3cret@")
        runner = HttpRunner(spec(url), logged.append)
        assert_weights(runner.predict(molecules[:5], []), molecules[:5])
    with pytest.raises(ModelError) as caught:
        runner.predict(molecules[5:10], [])  # ready already: no second wait, retries
    message = str(caught.value)
    assert f"model {MODEL!r} at {server.url}: no connection" in message
    assert "2 attempts" in message and "check that it is running" in message
    assert not any("s3cret" in text for text in [message, *logged])


def test_a_model_unavailable_for_good_is_a_model_error(
    server: ModelServer, monkeypatch: pytest.MonkeyPatch, molecules: list[str]
):
    monkeypatch.setattr(http_client, "MAX_ATTEMPTS", 3)
    monkeypatch.setattr(http_client, "FIRST_BACKOFF_S", 0.01)
    server.unavailable = 100
    with pytest.raises(ModelError) as caught:
        HttpRunner(spec(server.url)).predict(molecules[:5], [])
    message = str(caught.value)
    assert MODEL in message and server.url in message and "HTTP 503" in message
    assert "3 attempts" in message


def test_a_short_answer_is_halved_and_recovers(server: ModelServer, molecules: list[str]):
    server.fewer_rows = 1  # the first POST answers one row short: a model failure
    smiles = molecules[:8]
    frame = HttpRunner(spec(server.url, batch_size=8, concurrency=1)).predict(smiles, [])
    assert_weights(frame, smiles)
    assert frame["reason"].isna().all()
    # The first half answered whole, so the second is known to fail: split, not re-asked.
    assert server.batch_sizes == [8, 4, 2, 1, 1]


def test_rows_left_out_end_as_model_failed_for_those_molecules_only(
    server: ModelServer, molecules: list[str]
):
    server.drop_on = "Br"  # a model that skips what it cannot handle
    smiles = molecules[:100]
    bromine = {s for s in smiles if "Br" in s}
    assert bromine
    frame = HttpRunner(spec(server.url, batch_size=25)).predict(smiles, [])
    failed = frame["reason"].notna()
    assert {s for s, f in zip(smiles, failed, strict=True) if f} == bromine
    assert set(frame.loc[failed, "reason"]) == {MODEL_FAILED}
    assert set(frame.loc[failed, "detail"]) == {"0 rows answered for 1 molecules"}
    assert_weights(frame[~failed], [s for s in smiles if s not in bromine])


def test_always_short_answers_stop_the_partition(server: ModelServer, molecules: list[str]):
    server.fewer_rows = 10**6
    with pytest.raises(ModelError, match="failed on every molecule"):
        HttpRunner(spec(server.url, batch_size=4)).predict(molecules[:12], [])


def test_values_are_mapped_by_column_name(server2: ModelServer, molecules: list[str]):
    server2.reorder_keys = True
    smiles = molecules[:20]
    frame = HttpRunner(spec(server2.url, ("heavy_atoms", "mol_weight"))).predict(smiles, [])
    assert list(frame.columns) == ["heavy_atoms", "mol_weight", "reason", "detail"]
    assert_weights(frame, smiles)
    atoms = [Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in smiles]
    assert frame["heavy_atoms"].tolist() == atoms


def test_an_undeclared_key_is_ignored_and_logged_once(server: ModelServer, molecules):
    server.extra_key = True
    logged: list[str] = []
    smiles = molecules[:30]
    runner = HttpRunner(spec(server.url, batch_size=5, concurrency=1), logged.append)
    frame = runner.predict(smiles, [])
    assert list(frame.columns) == ["mol_weight", "reason", "detail"]
    assert_weights(frame, smiles)
    assert [line for line in logged if "undeclared" in line] == [
        f"model {MODEL!r}: ignored undeclared column(s) ['units']"
    ]


def test_a_declared_column_the_model_does_not_answer_is_a_model_error(
    server: ModelServer, molecules: list[str]
):
    with pytest.raises(ModelError, match=r"declared column\(s\) \['logp'\]"):
        HttpRunner(spec(server.url, ("mol_weight", "logp"))).predict(molecules[:3], [])


def test_readiness_is_awaited_once_before_the_first_post(molecules: list[str]):
    with ModelServer(not_ready_s=1.0) as server:
        runner = HttpRunner(spec(server.url, batch_size=5, concurrency=4))
        frame = runner.predict(molecules[:20], [])
        assert_weights(frame, molecules[:20])
        assert server.post_times[0] - server.started >= 1.0
        assert server.requests == 4  # no POST was answered 503
        gets = server.gets
        assert 2 <= gets <= 4  # polled every 0.5 s
        frame = runner.predict(molecules[20:30], [])  # the same runner: no second wait
        assert_weights(frame, molecules[20:30])
        assert server.gets == gets


# ------------------------------------------------------------------ answers that stop


def test_an_html_answer_is_a_model_error_naming_the_model(server: ModelServer, molecules):
    server.html = True
    with pytest.raises(ModelError) as caught:
        HttpRunner(spec(server.url)).predict(molecules[:3], [])
    message = str(caught.value)
    assert f"model {MODEL!r}" in message and "text/html" in message
    assert "<h1>Bad Gateway</h1>" in message and "not JSON" in message


def test_an_unreachable_server_fails_after_the_bounded_wait(molecules: list[str]):
    url = f"http://127.0.0.1:{closed_port()}"
    runner = HttpRunner(spec(url, ready_timeout_s=1, concurrency=2))
    started = time.monotonic()
    with pytest.raises(ModelError, match="no model server answered at") as caught:
        runner.predict(molecules[:10], [])
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3  # one wait, not one per batch in flight
    assert url in str(caught.value) and f"ersilia serve {MODEL}" in str(caught.value)


def test_a_hanging_model_is_a_model_error_naming_timeout_s(server: ModelServer, molecules):
    server.hang_s = 10
    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        HttpRunner(spec(server.url, timeout_s=0.5)).predict(molecules[:3], [])
    assert time.monotonic() - started < 3
    message = str(caught.value)
    assert "within 0.5 s" in message and "'timeout_s'" in message and MODEL in message


def test_a_redirect_is_never_followed(server: ModelServer, server2: ModelServer, molecules):
    server.redirect_to = server2.url
    with pytest.raises(ModelError) as caught:
        HttpRunner(spec(server.url)).predict(molecules[:3], [])
    message = str(caught.value)
    assert "redirect" in message and "HTTP 307" in message and f"{server2.url}/run" in message
    assert server2.requests == 0 and server2.gets == 0


def test_another_4xx_is_a_model_error_quoting_the_answer(server: ModelServer, molecules):
    with pytest.raises(ModelError) as caught:
        HttpRunner(spec(server.url + "/models/eos3b5e")).predict(molecules[:3], [])
    message = str(caught.value)
    assert "HTTP 404" in message and "Not Found" in message and MODEL in message


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "needs 'url'"),
        ({"url": ""}, "needs 'url'"),
        ({"url": 8080}, "needs 'url'"),
        ({"url": "localhost:8080"}, "http:// or https://"),
        ({"url": "ftp://models.example.org"}, "http:// or https://"),
        ({"url": "http://"}, "with a host"),
        ({"url": "http://localhost:8080/?x=1"}, "no query or fragment"),
        ({"url": "http://localhost:8080/#top"}, "no query or fragment"),
        ({"url": "http://localhost:99999"}, "ill-formed 'url'"),
        ({"url": "http://localhost:8080", "batch_size": 0}, "'batch_size' must be"),
        ({"url": "http://localhost:8080", "batch_size": 10.5}, "'batch_size' must be"),
        ({"url": "http://localhost:8080", "concurrency": 1000}, "'concurrency' must be"),
        ({"url": "http://localhost:8080", "timeout_s": -1}, "'timeout_s' must be"),
        ({"url": "http://localhost:8080", "ready_timeout_s": "30"}, "'ready_timeout_s' must"),
        ({"url": "http://localhost:8080", "batchsize": 10}, "unknown option(s) ['batchsize']"),
    ],
)
def test_bad_options_are_refused(options: dict, expected: str):
    with pytest.raises(ModelError) as caught:
        HttpRunner.check_options(MODEL, options, "inputs/models/eos3b5e.json")
    message = str(caught.value)
    assert message.startswith("inputs/models/eos3b5e.json: ") and expected in message
    with pytest.raises(ModelError):  # a runner is not built from them either
        HttpRunner(ModelSpec(MODEL, "http", (OutputColumn("mol_weight"),), options=options))


def test_good_options_pass_and_no_secret_is_printed():
    HttpRunner.check_options(
        MODEL,
        {
            "url": "https://models.example.org/eos3b5e",
            "batch_size": 500,
            "concurrency": 4,
            "timeout_s": 120,
            "ready_timeout_s": 5.5,
        },
        "src",
    )
    with pytest.raises(ModelError) as caught:
        HttpRunner.check_options(MODEL, {"url": "http://me:s3cret@host:80/?token=1"}, "src")
    assert "s3cret" not in str(caught.value) and "http://host:80/?token=1" in str(caught.value)


# ------------------------------------------------------------------ helpers


def test_retry_after_reads_seconds_and_http_dates_and_is_capped():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s("2", now) == 2 and retry_after_s(" 0.25 ", now) == 0.25
    assert retry_after_s("0", now) == 0 and retry_after_s("-5", now) == 0
    assert retry_after_s("86400", now) == http_client.MAX_WAIT_S
    in_ten = email.utils.format_datetime(now + timedelta(seconds=10), usegmt=True)
    assert retry_after_s(in_ten, now) == 10
    past = email.utils.format_datetime(now - timedelta(hours=1), usegmt=True)
    assert retry_after_s(past, now) == 0
    for unreadable in (None, "", "soon", "nan", "inf"):
        assert retry_after_s(unreadable, now) is None
