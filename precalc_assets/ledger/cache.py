"""The ledger's cache of materialisation facts as a table (one row per asset x
partition), so a warm ledger decodes only new events."""

from __future__ import annotations

import pyarrow as pa

from precalc_assets.ledger.rows import FACT_COLUMNS, Fact


def facts_table(facts: dict[str, dict[str, Fact]]) -> pa.Table:
    columns: dict[str, list] = {"asset": [], "partition": []} | {c: [] for c in FACT_COLUMNS}
    for asset, by_partition in facts.items():
        for partition, fact in by_partition.items():
            columns["asset"].append(asset)
            columns["partition"].append(partition)
            for name in FACT_COLUMNS:
                columns[name].append(getattr(fact, name))
    return pa.table(columns)


def read_facts(table: pa.Table) -> dict[str, dict[str, Fact]]:
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    facts: dict[str, dict[str, Fact]] = {}
    values = zip(*(columns[c] for c in FACT_COLUMNS), strict=True)
    for asset, partition, row in zip(columns["asset"], columns["partition"], values, strict=True):
        facts.setdefault(asset, {})[partition] = Fact(*row)
    return facts
