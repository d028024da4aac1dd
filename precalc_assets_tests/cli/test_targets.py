"""One home switched from the embedded default to S3 + DynamoDB: its history never
makes the new target "done"."""

from __future__ import annotations

from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library
from precalc_assets_tests.project import Project, precalc


def test_a_home_switched_to_s3_and_dynamodb_publishes_there_and_says_why(
    local_project, tmp_path, monkeypatch, s3_bucket, dynamodb_table_name, dynamodb_client
):
    """The walkthrough after the demo, in the same home: the local history never makes
    the new target "done"; its partitions are run, and published to the bucket and table."""
    library = write_library(tmp_path / "lib.smi", nci_lines(30))
    precalc("add-library", str(library), "--slice-size", "20")
    precalc("add-model", "eos3b5e")
    assert "2 partition(s) missing" in precalc("run", "--workers", "1").output

    monkeypatch.setenv("PRECALC_STORAGE_URL", f"s3://{s3_bucket}/precalc")
    monkeypatch.setenv("PRECALC_SERVING_URL", f"dynamodb://{dynamodb_table_name}")
    precalc("add-library", str(library), "--slice-size", "20")
    precalc("add-model", "eos3b5e")
    ledger = precalc("ledger").output
    assert "published to file://" in ledger and f"not to s3://{s3_bucket}/precalc" in ledger
    out = precalc("run", "--workers", "1").output
    assert "2 partition(s) missing" in out and "they count as missing here" in out
    items = dynamodb_client.scan(TableName=dynamodb_table_name, Select="COUNT")["Count"]
    assert items == len(expected_molecules([line.split()[0] for line in nci_lines(30)]))
    keys = [o.key for o in Project("aws", tmp_path).store().list("validated/")]
    assert len(keys) == 2
    again = precalc("run", "--workers", "1").output
    assert "0 partition(s) missing" in again and "count as missing" not in again
