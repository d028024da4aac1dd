"""Alerts, free of Dagster: `alert` (what one says), `transitions` (when to alert),
`delivery` (every sink tried, failures raised), and one module per sink: `jsonl`
(always on), `slack`, `sns`."""
