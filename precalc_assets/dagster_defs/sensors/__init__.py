"""Sensors, one module per concern; `SENSORS` is the code location's list."""

from precalc_assets.dagster_defs.sensors.after_runs import (
    ledger_after_runs_sensor,
    recheck_after_failure_sensor,
)
from precalc_assets.dagster_defs.sensors.alerts import check_alerts_sensor
from precalc_assets.dagster_defs.sensors.catch_up import missing_partitions_sensor
from precalc_assets.dagster_defs.sensors.library_files import (
    library_files_sensor,
    library_registered_sensor,
)
from precalc_assets.dagster_defs.sensors.model_requests import model_requests_sensor

SENSORS = [
    model_requests_sensor,
    library_files_sensor,
    library_registered_sensor,
    missing_partitions_sensor,
    check_alerts_sensor,
    ledger_after_runs_sensor,
    recheck_after_failure_sensor,
]
