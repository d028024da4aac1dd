"""What the checks decide, free of Dagster.

- `outcome`: a check's verdict on one partition, and the severities;
- `settings`: per-model check settings from the model request;
- `decisions`: completeness, output sanity, reproducibility, serving read-back;
- `drift`: prediction drift against a baseline (Evidently);
- `baselines`: which slice is a model's drift baseline;
- `evaluations`: each check of one partition, reading its files from the stores;
- `report`: the latest results as a report for the CLI.
"""
