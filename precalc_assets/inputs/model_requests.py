"""Model requests in object storage (`inputs/models/<id>.json`): registered, then read
through the deployment's trust policy, with the card the model last gave of itself
(`models/cards/<id>.json`: its columns, examples and how it did on them).

Every spec built from a request here is refused for `checks` quality cannot use, and a
model whose outputs are `Variable` gets a reproducibility check that warns: what a
request's checks mean is quality's (`quality.check_settings`), above the models package.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rdkit import Chem

from precalc_assets import layout
from precalc_assets.chem import Molecule, canonicalize_rows
from precalc_assets.inputs.libraries import first_molecules
from precalc_assets.inputs.manifests import library_manifests
from precalc_assets.models.card import ModelCard
from precalc_assets.models.catalog import (
    check_item_size,
    check_request_size,
    decode_request,
    spec_for,
)
from precalc_assets.models.examples import VARIABLE, ExampleCheck, check_examples
from precalc_assets.models.options import Reach
from precalc_assets.models.runners import RUNNER_CLASSES, options_reaching, run_model
from precalc_assets.models.runners.base import Log, no_log
from precalc_assets.models.runners.rdkit import RdkitRunner
from precalc_assets.models.spec import SPEC_KEYS, ModelError, ModelSpec
from precalc_assets.models.trust import ModelPolicy, must_be_declared
from precalc_assets.quality.check_settings import check_settings
from precalc_assets.quality.outcome import WARN
from precalc_assets.stores.errors import ObjectNotFound
from precalc_assets.stores.object_store import ObjectStore


@dataclass(frozen=True)
class Probe:
    """A model described and run on its own examples (models that describe themselves)."""

    spec: ModelSpec
    card: ModelCard | None = None
    examples: ExampleCheck | None = None


def _with_variable_warning(spec: ModelSpec, card: ModelCard | None) -> ModelSpec:
    """A model whose outputs may vary run to run (`Output Consistency: Variable`) gets
    a reproducibility check that warns, unless its `checks` say otherwise."""
    if card is None or card.consistency.lower() != VARIABLE:
        return spec
    given = spec.checks.get("reproducibility")
    if given is not None and not isinstance(given, dict):
        return spec  # not an object: `check_settings` refuses it by name
    repro = {"severity": WARN, **(given or {})}
    return replace(spec, checks={**spec.checks, "reproducibility": repro})


def resolve_spec(
    model_id: str,
    request: dict[str, Any] | None = None,
    source: str = "",
    card: ModelCard | None = None,
) -> ModelSpec:
    """The spec a request defines (`models.catalog.spec_for`: a built-in, or a spec
    checked against `card`, what the model said of itself), refused for `checks`
    quality cannot use or serving items too large; a `Variable` model's
    reproducibility check warns."""
    source = source or f"model {model_id!r}"
    spec = _with_variable_warning(spec_for(model_id, request, source, card), card)
    check_settings(spec, source)  # bad thresholds fail at registration, not in a check
    check_item_size(spec, source)
    return spec


def parse_request(model_id: str, payload: bytes | str, source: str) -> ModelSpec:
    """The spec a request file's bytes define (no trust policy applied: see `trust`)."""
    return resolve_spec(model_id, decode_request(payload, source), source)


def _stored_request(store: ObjectStore, model_id: str) -> tuple[dict[str, Any], str]:
    key = layout.model_request(model_id)
    info = store.head(key)
    if info is not None:  # a request is small: a huge file is refused unread
        check_request_size(info.size, store.uri(key))
    try:
        payload = store.get_bytes(key)
    except ObjectNotFound:
        raise ModelError(
            f"model {model_id!r} is not registered in {store.url} (no {key}); register it "
            f"with `precalc add-model {model_id}`"
        ) from None
    return decode_request(payload, store.uri(key)), store.uri(key)


def requested(store: ObjectStore, model_id: str, policy: ModelPolicy) -> tuple[dict[str, Any], str]:
    """(the request the model is built from, where it comes from): storage's request
    as the deployment's policy allows it (a `ModelError` when it asks for more)."""
    stored, source = _stored_request(store, model_id)
    request = policy.request_for(model_id, stored, source)
    return request, policy.source(model_id) if model_id in policy.declared else source


def _describes_itself(request: dict[str, Any]) -> bool:
    cls = RUNNER_CLASSES.get(request.get("runner"))  # type: ignore[arg-type]
    return cls is not None and cls.describes_itself(request)


def read_card(store: ObjectStore, model_id: str) -> ModelCard | None:
    key = layout.model_card(model_id)
    if not store.exists(key):
        return None
    try:
        return ModelCard.from_dict(json.loads(store.get_bytes(key))["card"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"{store.uri(key)}: the model's card cannot be read ({exc}); delete it and run "
            f"`precalc add-model {model_id}` again, or let the next run describe the model"
        ) from None


def load_model_spec(store: ObjectStore, model_id: str, policy: ModelPolicy) -> ModelSpec:
    """The model's spec: its request in storage, as the deployment's policy allows it,
    with the card the model last gave of itself. No model is called."""
    request, source = requested(store, model_id, policy)
    card = read_card(store, model_id) if _describes_itself(request) else None
    return resolve_spec(model_id, request, source, card)


def describe_model(
    model_id: str,
    request: dict[str, Any],
    source: str,
    log: Log = no_log,
    run_examples: bool = True,
) -> Probe:
    """Ask the model what it is, and run it on its examples (unless `run_examples` is
    false: a run checks them before it computes). A model that cannot reproduce them is
    refused (`ModelError` with the differences), unless its outputs are declared
    `Variable`: then the difference is a warning, in the probe."""
    if not _describes_itself(request):
        return Probe(resolve_spec(model_id, request, source))
    cls = RUNNER_CLASSES[request["runner"]]
    options = {k: v for k, v in request.items() if k not in SPEC_KEYS}
    card = cls.describe(model_id, options)
    for warning in card.warnings if card is not None else ():
        log(f"warning: {warning}")
    spec = resolve_spec(model_id, request, source, card)
    examples = check_examples(spec, card, log) if card is not None and run_examples else None
    if examples is not None and examples.severity == "error":
        raise ModelError(
            f"{source}: {examples.summary()}; it is refused until it does (a model changed "
            f"or broken behind the same {card.source if card else 'address'}?):\n"
            f"{examples.markdown()}"
        )
    if examples is not None and not examples.passed:
        log(f"{examples.summary()} (its outputs are Variable: a warning)")
    return Probe(spec, card, examples)


# A sensor tick waits this long at most for a model server (the next tick tries again).
SENSOR_READY_TIMEOUT_S = 5


def sensor_request(request: dict[str, Any]) -> dict[str, Any]:
    """`request` with the short wait a sensor can afford for a served model."""
    if request.get("runner") != "http":
        return request
    given = request.get("ready_timeout_s", SENSOR_READY_TIMEOUT_S)
    if isinstance(given, bool) or not isinstance(given, int | float):
        return request  # not a number: the runner's option check refuses it by name
    return {**request, "ready_timeout_s": min(given, SENSOR_READY_TIMEOUT_S)}


def record_card(store: ObjectStore, probe: Probe) -> None:
    """Keep what the model said of itself, so reading its spec calls no model."""
    if probe.card is None:
        return
    key = layout.model_card(probe.spec.model_id)
    record = {
        "card": probe.card.to_dict(),
        "examples": probe.examples.to_dict() if probe.examples else None,
        "code_version": probe.spec.code_version,
        "described_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if store.exists(key):
        previous = json.loads(store.get_bytes(key))
        if {k: v for k, v in previous.items() if k != "described_at"} == {
            k: v for k, v in record.items() if k != "described_at"
        }:
            return  # unchanged: keep the first time it was seen
    store.put_bytes(key, json.dumps(record, indent=2, sort_keys=True).encode())


def probe_model(store: ObjectStore, model_id: str, policy: ModelPolicy, log: Log = no_log) -> Probe:
    """Describe the model as registered now and record its card: its spec (and code
    version) is then what the model answers today."""
    request, source = requested(store, model_id, policy)
    probe = describe_model(model_id, request, source, log)
    record_card(store, probe)
    return probe


def refresh_cards(
    store: ObjectStore, model_ids: list[str], policy: ModelPolicy, log: Log = no_log
) -> dict[str, str]:
    """Ask every model that describes itself again, so the ledger's code versions are
    what the models answer now (a model changed behind its URL reads `stale`); model
    -> why it could not be asked, for the others."""
    problems: dict[str, str] = {}
    for model_id in model_ids:
        try:
            probe_model(store, model_id, policy, log)  # only models that describe themselves
        except ModelError as exc:
            problems[model_id] = str(exc)
    return problems


def _absolute_paths(request: dict[str, Any], base: Path) -> dict[str, Any]:
    """A declared request's paths (`repo`, `python`, ...), relative to the spec file,
    made absolute; symbolic links are kept (an environment's `bin/python` is one)."""
    local_files = options_reaching(Reach.LOCAL_FILE)
    return {
        k: os.path.normpath(base / v) if k in local_files and isinstance(v, str) else v
        for k, v in request.items()
    }


def register_model(
    store: ObjectStore,
    model_id: str,
    policy: ModelPolicy,
    spec_path: Path | None = None,
    log: Log = no_log,
) -> Probe:
    """Validate a model request, describe the model and check its examples, then store
    the request at `inputs/models/<id>.json`.

    A request whose runner executes code (`python`, `command`), or that names files of
    this machine (`run_columns`), is declared in the deployment's models file instead,
    and storage gets `{}` (plus its `checks`).
    """
    source = str(spec_path or f"model {model_id!r}")
    if spec_path:
        check_request_size(spec_path.stat().st_size, source)  # before reading it
    payload = spec_path.read_bytes() if spec_path else b"{}"
    request = decode_request(payload, source)
    if must_be_declared(request) and spec_path is not None:
        declared = _absolute_paths(request, spec_path.absolute().parent)
        probe = describe_model(model_id, policy.deployed(declared), source, log)
        policy.declare(model_id, declared)
        payload = b"{}\n"  # storage only names it: what it runs is the deployment's
    else:
        probe = describe_model(model_id, policy.request_for(model_id, request, source), source, log)
    if probe.examples is None and probe.spec.runner not in TRUSTED_RUNNERS:
        try_model(store, probe.spec, source, log)
    store.put_bytes(layout.model_request(model_id), payload)
    record_card(store, probe)
    return probe


# Runners of this package's own tested functions: nothing to try before registering.
TRUSTED_RUNNERS = frozenset({RdkitRunner.name})
TRIAL_MOLECULES = 5
# Tried when no library is registered yet: aspirin, caffeine, ibuprofen, paracetamol, ethanol.
TRIAL_SMILES = (
    "CC(=O)Oc1ccccc1C(=O)O",
    "Cn1c(=O)c2c(ncn2C)n(C)c1=O",
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
    "CC(=O)Nc1ccc(O)cc1",
    "CCO",
)


def try_model(store: ObjectStore, spec: ModelSpec, source: str, log: Log = no_log) -> None:
    """Run a model with no examples of its own on a few library molecules before it is
    registered: a typo'd callable, a command that is not there or a model that fails on
    every molecule is refused now, with its cause, not in every run of every slice."""
    molecules, mols = _trial_molecules(store)
    smiles = [m.smiles for m in molecules]
    try:
        frame = run_model(spec, smiles, mols, " on a trial", log)
    except ModelError as exc:
        cause = exc.__cause__
        why = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        raise ModelError(
            f"{source}: tried on {len(smiles)} molecules before registering it, the model "
            f"failed: {why}. Nothing was registered; fix the model and add it again."
        ) from exc
    failed = frame[frame["reason"].notna()] if "reason" in frame else frame.iloc[:0]
    if len(failed) == len(frame):
        detail = failed["detail"].iloc[0] if "detail" in failed else ""
        raise ModelError(
            f"{source}: tried on {len(smiles)} molecules before registering it, the model "
            f"failed on every one ({detail}). Nothing was registered; fix the model and add "
            "it again."
        )
    log(f"tried on {len(smiles)} molecules: {len(frame) - len(failed)} answered")


def _trial_molecules(store: ObjectStore) -> tuple[list[Molecule], list[Chem.Mol]]:
    """The first molecules of the first registered library (by name), else well-known
    drugs."""
    for manifest in [m for m in library_manifests(store) if m.slices][:1]:
        found = first_molecules(store, manifest.slices[0].key, TRIAL_MOLECULES)
        if found[0]:
            return found
    molecules, mols, _ = canonicalize_rows(list(enumerate(TRIAL_SMILES)))
    return molecules, mols
