"""One sensor tick against a test project's instance, definitions and resources."""

from __future__ import annotations

import dagster as dg

from precalc_assets.dagster_defs.sensors.model_requests import model_requests_sensor
from precalc_assets_tests.project import Project


def tick(
    project: Project,
    cursor: str | None = None,
    sensor: dg.SensorDefinition = model_requests_sensor,
) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=project.instance,
        cursor=cursor,
        definitions=project.defs,
        resources=project.defs.resources,
    ) as context:
        return sensor(context)
