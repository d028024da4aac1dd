"""What a model says about itself: a served model by its routes, a model repository by
its files. Registration checks declared columns against it and runs its examples."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from precalc_assets.models.spec import OutputColumn

# Output types as hub models name them (card `Output Type`, `run_columns.csv` type),
# lower-cased, to the project's dtypes.
HUB_DTYPES = {"float": "float", "integer": "int", "string": "str", "boolean": "bool"}


@dataclass(frozen=True)
class ModelCard:
    """What a served model or a model repository says about itself."""

    source: str  # the URL or the repository path, for messages
    identifier: str = ""
    slug: str = ""
    consistency: str = ""  # "Fixed" or "Variable" (hub metadata), "" when not said
    columns: tuple[OutputColumn, ...] = ()  # names and dtypes, in the model's order
    example_inputs: tuple[str, ...] = ()
    example_outputs: tuple[Mapping[str, Any], ...] = ()  # by column name, input order
    # The server sends every column as one collapsed `Output Type` (float + integer ->
    # Float): its columns' types say less than a repository's `run_columns.csv`.
    collapsed_types: bool = False
    warnings: tuple[str, ...] = ()  # a card field missing, a pin not pinned, ...

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["columns"] = [{"name": c.name, "dtype": c.dtype} for c in self.columns]
        data["example_outputs"] = [dict(o) for o in self.example_outputs]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        return cls(
            source=str(data.get("source", "")),
            identifier=str(data.get("identifier", "")),
            slug=str(data.get("slug", "")),
            consistency=str(data.get("consistency", "")),
            columns=tuple(OutputColumn(c["name"], c["dtype"]) for c in data.get("columns", ())),
            example_inputs=tuple(data.get("example_inputs", ())),
            example_outputs=tuple(data.get("example_outputs", ())),
            collapsed_types=bool(data.get("collapsed_types", False)),
            warnings=tuple(data.get("warnings", ())),
        )
