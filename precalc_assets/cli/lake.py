"""`precalc lake-ddl`: Athena DDL, or DuckDB queries, for bulk reads of the Parquet files."""

from __future__ import annotations

import click

from precalc_assets.cli.user_errors import user_errors
from precalc_assets.lake import (
    DATASETS,
    DEFAULT_DATABASE,
    athena_ddl,
    duckdb_query,
    lake_tables,
    s3_root,
    storage_root,
)
from precalc_assets.serving.lookup import check_models
from precalc_assets.settings import Settings, store_urls
from precalc_assets.stores.factory import open_object_store

BOTH = "both"


@click.command("lake-ddl")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--database", default=DEFAULT_DATABASE, show_default=True, help="Athena database.")
@click.option(
    "--dataset",
    type=click.Choice([*DATASETS, BOTH]),
    default="validated",
    show_default=True,
    help="validated: what is served; predictions: every row, before validation.",
)
@click.option(
    "--location",
    help="s3://bucket/prefix holding the storage's files (default: the storage URL, if s3://).",
)
@click.option("--duckdb", "for_duckdb", is_flag=True, help="Print DuckDB queries instead.")
def lake_ddl(
    models: tuple[str, ...],
    database: str,
    dataset: str,
    location: str | None,
    for_duckdb: bool,
) -> None:
    """Print the Athena (Glue) DDL of one table per model and dataset, or with --duckdb
    a DuckDB query over the files.

    Athena reads S3 only: with a local storage, --location must name the S3 copy of its
    files (DDL pointing at a local folder could not run).
    """
    datasets = DATASETS if dataset == BOTH else (dataset,)
    with user_errors():
        storage_url, _ = store_urls(Settings.from_env())
        store = open_object_store(storage_url)
        if for_duckdb:
            root = s3_root(location) if location else storage_root(store)
            chosen = check_models(store, models) if models else []
            click.echo("\n\n".join(duckdb_query(root, d, chosen) + ";" for d in datasets))
            return
        tables, skipped = lake_tables(store, models, datasets, location)
        if skipped:
            click.echo(
                f"skipped (nothing published yet, columns unknown): {', '.join(skipped)}",
                err=True,
            )
        if not tables:
            raise click.ClickException(
                f"no model in {store.url} has published a partition yet; run `precalc run`"
            )
        click.echo(athena_ddl(tables, database), nl=False)
