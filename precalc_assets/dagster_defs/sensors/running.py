"""How the location's sensors are declared: RUNNING from the start, so dropping a file
into storage is enough once the daemon runs."""

from collections.abc import Callable

import dagster as dg


def running_sensor(
    interval_s: int, description: str, job: dg.JobDefinition | None = None
) -> Callable[[Callable], dg.SensorDefinition]:
    return dg.sensor(
        job=job,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )
