"""The `precalc` commands: where each lives and its one-line help. `precalc --help`
reads this table alone, so it imports neither Dagster nor RDKit; a command's module is
imported when the command runs."""

from __future__ import annotations

# name -> (module, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "add-library": ("inputs", "add_library", "Copy a library file to storage, cut it into slices."),
    "add-model": ("inputs", "add_model", "Register a built-in, served or repository model."),
    "info": ("info", "info", "One model: card, columns, runner, code version, baselines, ledger."),
    "remove-model": ("removal", "remove_model", "Remove a model's items, files and partitions."),
    "remove-library": (
        "removal",
        "remove_library",
        "Remove a library's slices, files and the items they serve.",
    ),
    "example-repo": (
        "example",
        "example_repo",
        "Write an example model repository in the hub's layout (offline).",
    ),
    "models": ("inputs", "list_models", "List the built-in and the deployment's declared models."),
    "build-envs": (
        "environments",
        "build_envs",
        "Build the environments of the declared repository models (e.g. in an image).",
    ),
    "run": ("runs", "run", "Materialise every missing, stale or failed partition."),
    "status": ("runs", "status", "Per model: slices done, rows published, rows rejected."),
    "ledger": ("reports", "ledger", "What is done, stale, failed or missing, per model."),
    "checks": ("reports", "checks", "The latest check results of every partition."),
    "alerts": ("reports", "alerts", "Send notifications for new failures now, and print them."),
    "lookup": (
        "lookup",
        "lookup_command",
        "Predictions by InChIKey or SMILES, from the serving table.",
    ),
    "serve": ("serve", "serve", "A local HTTP API of lookups, with OpenAPI docs and /models."),
    "lake-ddl": ("lake", "lake_ddl", "Athena DDL and a DuckDB query for the Parquet files."),
    "demo": ("demo", "demo", "The quick start: the built-ins over RDKit's NCI sample."),
    "env": ("env", "env", "Where commands read and write here: home, instance, stores, warnings."),
}
