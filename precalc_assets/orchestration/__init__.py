"""What runs, plans and reads Dagster for the CLI and the definitions alike: the model x
slice partitions, the runs in flight and their processes, the ledger's and the checks'
reads of the instance, and the runs of what is missing in N worker processes. Below
`dagster_defs/` (which uses it) and above the plain packages; with `dagster_defs/`, the
only place that imports Dagster."""
