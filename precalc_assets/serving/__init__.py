"""Serving precalculated predictions: one lookup (`lookup`) behind every face.

- `lookup`: inputs, statuses, the batched read; `formats`: JSON, CSV, DataFrame;
- `requests`: the JSON request of the HTTP faces and their answer;
- `computed`: partial hits, misses computed, served and recorded;
- `deployment`: the stores and policy of a face, from settings, without Dagster.
"""
