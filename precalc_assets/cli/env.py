"""`precalc env`: where this shell's commands read and write, resolved as they would
resolve it, and what looks wrong (an empty home, a history bound to other stores).
Nothing is created, and no secret is printed."""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path

import click

from precalc_assets.cli.user_errors import USER_ERRORS
from precalc_assets.deployment import open_storage
from precalc_assets.inputs.manifests import LibraryManifest, library_manifests
from precalc_assets.inputs.registered import stored_models
from precalc_assets.settings import Settings, store_urls
from precalc_assets.stores.urls import path_from_url, split_url

DIST = "precalc_assets"
# The AWS settings boto3 reads that are safe to show (credentials are only said to be set).
AWS_SHOWN = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE")


@click.command("env")
def env() -> None:
    """The resolved home, instance, storage, serving table, deployment and warnings."""
    settings = Settings.from_env()
    lines, warnings = environment_lines(settings)
    click.echo("\n".join(lines))
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


def environment_lines(settings: Settings) -> tuple[list[str], list[str]]:
    """(what each setting resolves to, what looks wrong)."""
    warnings: list[str] = []
    home = settings.home
    config = settings.dagster_home / "dagster.yaml"
    instance = (
        f"{settings.dagster_home} (its dagster.yaml: "
        f"{_instance_storage(config) if config.exists() else 'none yet; SQLite is written'})"
    )
    lines = [
        f"precalc {version(DIST)}",
        f"home           {home}{'' if home.exists() else ' (does not exist yet)'}",
        f"deployment     {settings.deployment}",
        f"instance       {instance}",
    ]
    try:
        storage, serving = store_urls(settings)
    except ValueError as exc:
        return lines + [f"stores         {exc}"], warnings + [str(exc)]
    lines += [
        f"storage        {storage}",
        f"serving table  {serving}",
        f"models file    {settings.models_file or 'none (aws: declared in the image)'}",
        f"http allowed   {', '.join(settings.http_allow) or 'none'}",
        f"environments   {settings.environments}",
        "aws            "
        + (", ".join(f"{n}={os.environ[n]}" for n in AWS_SHOWN if os.environ.get(n)) or "-")
        + (" (credentials set)" if os.environ.get("AWS_ACCESS_KEY_ID") else ""),
    ]
    try:
        models, libraries = _registered(settings, storage)
    except USER_ERRORS as exc:
        return lines + [f"registered     cannot read storage: {exc}"], warnings + [str(exc)]
    slices = sum(len(m.slices) for m in libraries)
    lines.append(
        f"registered     {len(models)} model(s) ({', '.join(models) or '-'}), "
        f"{len(libraries)} library(ies) ({', '.join(m.name for m in libraries) or '-'}), "
        f"{slices} slice(s)"
    )
    if not models and not libraries:
        warnings.append(
            f"no models or libraries registered in {storage}: if you registered them from "
            "another directory, set PRECALC_HOME (or PRECALC_STORAGE_URL) to that home; "
            "commands run here use this one"
        )
    return lines, warnings


def _registered(settings: Settings, storage: str) -> tuple[list[str], list[LibraryManifest]]:
    """The models and libraries registered in storage; a local folder that does not
    exist holds none (and is not created by looking)."""
    scheme, rest = split_url(storage)
    if scheme in ("", "file") and not path_from_url(rest).exists():
        return [], []
    store = open_storage(settings)
    return stored_models(store), library_manifests(store)


def _instance_storage(config: Path) -> str:
    """Which storage a dagster.yaml selects, from its text (Dagster is not imported)."""
    text = config.read_text()
    return "Postgres" if "postgres" in text else "SQLite (Dagster's default)"
