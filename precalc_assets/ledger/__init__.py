"""The ledger, free of Dagster: `rows` (each partition's status), `summary` (per model,
the work to do), `cache` (the facts table kept in storage), `computed` (molecules computed
for lookups). `orchestration.ledger_reads` reads Dagster's event log into these."""
