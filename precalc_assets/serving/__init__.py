"""Serving precalculated predictions: one lookup (`lookup`) behind every face.

- `lookup`: inputs, statuses, the batched read; `formats`: JSON, CSV, DataFrame;
- `lookup_json`: the JSON request and answer of every face, declared once;
- `requests`: that request parsed (the HTTP faces' limits and 4xx) and answered;
- `compute_missing`: partial hits, misses computed, served and recorded;
- `deployment`: the stores and policy of a face, from settings, without Dagster;
- `aws_lambda`: the Lambda face;
- `http_api`: `precalc serve`'s app, from `lookup_routes`, `models_routes` (the ledger's
  view, `models_view`), `host_check` and `http_errors`.
"""
