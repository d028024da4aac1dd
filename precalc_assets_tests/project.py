"""A precalc project in a temporary home, driven the way users drive it.

`Project` registers inputs, executes the Definitions' jobs on a real Dagster instance
under DAGSTER_HOME and reads stores through the resources; `precalc` runs the console
script in this process. The settings lists name what a test home must not inherit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from click.testing import CliRunner, Result

from precalc_assets import layout
from precalc_assets.dagster_defs.resources import resources_for
from precalc_assets.definitions import build_definitions
from precalc_assets.inputs.libraries import register_library
from precalc_assets.inputs.manifests import LibraryManifest
from precalc_assets.inputs.model_requests import register_model
from precalc_assets.ledger.rows import LedgerRow
from precalc_assets.models.trust import ModelPolicy
from precalc_assets.orchestration.ledger_reads import build_ledger
from precalc_assets.orchestration.partitions import partition_key
from precalc_assets.settings import Settings, ensure_dagster_home
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import ServingTable

# Settings a test home must not inherit from the developer's shell: the project's own,
# and the AWS ones that could point boto3 at a real account.
PRECALC_SETTINGS = (
    "PRECALC_STORAGE_URL",
    "PRECALC_SERVING_URL",
    "PRECALC_DEPLOYMENT",
    "PRECALC_MODELS_FILE",
    "PRECALC_HTTP_ALLOW",
    "PRECALC_ENVS_DIR",
    "PRECALC_UI_URL",
)

AWS_SETTINGS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
)


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

    def policy(self) -> ModelPolicy:
        with dg.build_resources(resources_for("local")) as resources:
            return resources.models.open()

    def ledger(self, models: list[str] | None = None) -> list[LedgerRow]:
        return build_ledger(self.instance, self.store(), self.policy(), self.serving().url, models)

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
        register_model(self.store(), model_id, self.policy(), spec_path)
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


def precalc(*args: str, ok: bool = True) -> Result:
    """The `precalc` console script, in this process, as a user runs it."""
    from precalc_assets.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result
