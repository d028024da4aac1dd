"""Dagster-level fixtures for this folder."""

from precalc_assets_tests.dagster_fixtures import aws_project, local_project, project  # noqa: F401
