"""Models: what a model is and how it runs, free of Dagster.

- `spec`: a model's ID, runner and declared output columns (the source of truth);
- `catalog`: which model an ID and its request mean (built-ins or a spec);
- `builtin`: the offline RDKit models;
- `runners/`: one module per runner, and `run_model`, which checks a model's answer;
- `schema`: the pandera schema built from the declared columns;
- `tables`: Arrow tables and serving values built from the declared columns.
"""
