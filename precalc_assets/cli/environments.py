"""`precalc build-envs`: build the environments of the deployment's repository models
ahead of their runs, e.g. as a step of the image on ECS or Kubernetes (where a run
should compute, not install). It reads the settings alone, not Dagster's resources,
so it runs in an image build with no storage configured."""

from __future__ import annotations

import time

import click

from precalc_assets.cli.user_errors import user_errors
from precalc_assets.deployment import open_policy
from precalc_assets.models.runners.command import CommandRunner
from precalc_assets.settings import Settings


@click.command("build-envs")
@click.option(
    "--model", "models", multiple=True, help="Only these models (default: every declared one)."
)
def build_envs(models: tuple[str, ...]) -> None:
    """Build the environment of each repository model the deployment declares
    (PRECALC_MODELS_FILE), from its install.yml or Dockerfile, into PRECALC_ENVS_DIR.
    One environment per distinct set of pins; a complete one is kept as it is."""
    with user_errors():
        settings = Settings.from_env()
        policy = open_policy(settings)
        unknown = sorted(set(models) - set(policy.declared))
        if unknown:
            raise click.ClickException(
                f"not declared in {policy.models_file}: {unknown}; declared: "
                f"{sorted(policy.declared) or 'none'}"
            )
        rows = []
        for model_id, declared in sorted(policy.declared.items()):
            if models and model_id not in models:
                continue
            request = policy.deployed(declared)
            if request.get("runner") != "command" or "repo" not in request:
                continue
            if "python" in request:
                rows.append((model_id, f"its own: {request['python']}", "-"))
                continue
            started = time.perf_counter()
            environment = CommandRunner.build_environment(model_id, request, click.echo)
            where = str(environment.path) if environment else "-"
            rows.append((model_id, where, f"{time.perf_counter() - started:.1f} s"))
    if not rows:
        click.echo(f"no repository model is declared in {policy.models_file}; nothing to build")
        return
    click.echo(f"environments of {len(rows)} repository model(s) in {settings.environments}:")
    width = max(len(model_id) for model_id, _, _ in rows)
    for model_id, where, took in rows:
        click.echo(f"  {model_id:{width}}  {where}  ({took})")
