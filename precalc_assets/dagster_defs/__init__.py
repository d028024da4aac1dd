"""The code location's Dagster definitions: resources, assets, checks, sensors, jobs, the
metadata they emit and the console logger. Besides these, only `orchestration` (runs,
partitions and reads of the instance) imports Dagster."""
