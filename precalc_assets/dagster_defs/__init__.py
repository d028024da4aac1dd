"""Everything Dagster: partitions, resources, assets, checks, sensors, jobs, the
metadata they emit, and the glue the CLI uses to reach an instance (`instance`, `runs`,
`history`, `evaluations`). The rest of the package imports no Dagster."""
