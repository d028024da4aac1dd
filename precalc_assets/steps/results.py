"""What each step reports: rows in and out, rejects by reason, paths, time."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StepResult:
    slice_key: str
    model_id: str = ""
    rows_in: int = 0
    rows_out: int = 0
    rejected: int = 0
    seconds: float = 0.0
    paths: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)  # reason code -> rows
    reason_details: dict[str, str] = field(default_factory=dict)  # code -> one row's detail
    # Nullable column -> values made null: floats the serving table cannot hold.
    nulled: dict[str, int] = field(default_factory=dict)
    code_version: str = ""
    # "<later slice>@<run id of its items taken>" -> items taken over from it
    taken_over: dict[str, int] = field(default_factory=dict)
    target: str = ""  # a publication's storage + serving table (`stores.urls.history_target`)
