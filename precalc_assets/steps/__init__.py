"""Each step as plain functions over the stores, free of Dagster.

Each step reads its input from object storage and writes its output there, so any step
can run in any process, and re-running a step overwrites its own output (idempotent):
`prepare` (a slice), `predict` (models over a slice), `validate`, `publish`, and
`compute` (a model over molecules outside any slice, through the same validation and
publication); `results` is what each reports.
"""
