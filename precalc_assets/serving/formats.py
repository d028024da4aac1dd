"""An `Answer` as every face shows it: the JSON body, CSV, or a pandas DataFrame.

JSON is the answer declared in `serving.lookup_json`, a superset of Ersilia's lookup
response: per model `model_id` and `output: [{"smiles", "value"}]`, with `input`, `key`,
`status`, `outputs` (by column name) added to each row and a `missing` list. A one-model
answer has those fields at the top level too, where Ersilia's clients read them.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

from precalc_assets.models.spec import OutputColumn
from precalc_assets.serving.lookup import Answer, ModelAnswer, Row
from precalc_assets.serving.lookup_json import answer_shape

if TYPE_CHECKING:
    import pandas as pd

FIXED_COLUMNS = ("input", "key", "smiles", "model_id", "status", "reason")


def json_body(answer: Answer) -> dict[str, Any]:
    """The response body of a lookup, the same from every face: one model's body, or
    `{"results": [...]}` of one body per model when several were asked for."""
    return answer_shape(answer).to_json()


def to_json(answer: Answer, indent: int | None = None) -> str:
    # Stored values are finite or null (`stores.values`), so strict JSON always works.
    return json.dumps(json_body(answer), indent=indent, allow_nan=False)


def flat_names(columns: tuple[OutputColumn, ...]) -> list[str]:
    """Table column names of a model's values: a vector `bits` of 3 is bits_0..bits_2."""
    names = []
    for column in columns:
        if column.length:
            names += [f"{column.name}_{i}" for i in range(column.length)]
        else:
            names.append(column.name)
    return names


def value_names(answer: ModelAnswer) -> list[str]:
    """The model's declared names, unless some values were published under other
    columns: then value_0..value_<n-1>, so no value is dropped or misnamed."""
    names = flat_names(answer.columns)
    widths = {len(r.values) for r in answer.rows if r.values is not None}
    if names and widths <= {len(names)}:
        return names
    return [f"value_{i}" for i in range(max(widths, default=0))]


def table_rows(answer: Answer) -> tuple[list[str], list[dict[str, Any]]]:
    """(header, one dict per input x model): fixed columns, then every model's values."""
    header = list(FIXED_COLUMNS)
    records = []
    for model in answer.models:
        names = value_names(model)
        header += [n for n in names if n not in header]
        for row in model.rows:
            records.append(_record(row, names))
    return header, records


def _record(row: Row, names: list[str]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "input": row.input,
        "key": row.key,
        "smiles": row.smiles,
        "model_id": row.model_id,
        "status": row.status,
        "reason": row.reason,
    }
    if row.values is not None:
        record.update(zip(names, row.values, strict=False))
    return record


def to_csv(answer: Answer) -> str:
    header, records = table_rows(answer)
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def to_frame(answer: Answer) -> pd.DataFrame:
    import pandas as pd

    header, records = table_rows(answer)
    return pd.DataFrame.from_records(records, columns=header)
