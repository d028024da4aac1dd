"""A precalc project in a temporary home, on the local or the AWS (moto) backend.

Tests drive it the way users do: register inputs, execute the Definitions' jobs on a
real Dagster instance (SQLite, under DAGSTER_HOME), read stores through the resources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import rdkit

from precalc_assets import layout
from precalc_assets.definitions import build_definitions
from precalc_assets.partitions import partition_key
from precalc_assets.registry import LibraryManifest, register_library, register_model
from precalc_assets.resources import resources_for
from precalc_assets.settings import Settings, ensure_dagster_home
from precalc_assets.stores import ObjectStore, ServingTable

NCI_SAMPLE = Path(rdkit.__file__).parent / "Data" / "NCI" / "first_5K.smi"


def write_library(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def nci_lines(count: int, start: int = 0) -> list[str]:
    """Real molecules: lines of RDKit's NCI sample (SMILES + id)."""
    with NCI_SAMPLE.open() as handle:
        return [line.rstrip("\n") for line in handle][start : start + count]


@dataclass
class Project:
    backend: str
    home: Path
    defs: dg.Definitions = field(default_factory=build_definitions)

    @property
    def instance(self) -> dg.DagsterInstance:
        ensure_dagster_home(Settings.from_env())
        return dg.DagsterInstance.get()

    def store(self) -> ObjectStore:
        with dg.build_resources(resources_for("local")) as resources:
            return resources.storage.open()

    def serving(self) -> ServingTable:
        with dg.build_resources(resources_for("local")) as resources:
            return resources.serving.open()

    def add_library(self, path: Path, name: str, slice_size: int = 100) -> LibraryManifest:
        manifest, _ = register_library(self.store(), path, name=name, slice_size=slice_size)
        self.instance.add_dynamic_partitions("slice", [s.key for s in manifest.slices])
        return manifest

    def add_model(self, model_id: str, spec: dict | None = None) -> None:
        spec_path = None
        if spec is not None:
            spec_path = self.home / f"{model_id}.spec.json"
            spec_path.write_text(json.dumps(spec))
        register_model(self.store(), model_id, spec_path)
        self.instance.add_dynamic_partitions("model", [model_id])

    def precalculate(self, model_id: str, slice_key: str, **kwargs) -> dg.ExecuteInProcessResult:
        return self.defs.resolve_job_def("precalculate").execute_in_process(
            partition_key=partition_key(model_id, slice_key),
            instance=self.instance,
            raise_on_error=kwargs.pop("raise_on_error", False),
            **kwargs,
        )

    def predictions_parquet(self, model_id: str, slice_key: str):
        return self.store().read_parquet(layout.predictions(model_id, slice_key)).to_pandas()

    def latest_metadata(self, asset: str, key: str) -> dict:
        record = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1
        ).records[0]
        return {k: v.value for k, v in record.asset_materialization.metadata.items()}
