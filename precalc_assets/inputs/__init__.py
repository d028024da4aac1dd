"""Inputs registered in object storage, free of Dagster.

- `library_files`: the accepted library formats, read row by row, and slice planning;
- `manifests`: a registered library's manifest (its slices), the commit point;
- `libraries`: registering a library file (cut into raw slices);
- `model_requests`: registering and reading model requests;
- `rejected`: the listing of input files that could not be registered.
"""
