"""Numbers the serving table cannot hold: validation applies its range, so a value is
never served as a silent null (or a silent 0)."""

from __future__ import annotations

from precalc_assets import layout
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library


def test_floats_beyond_the_serving_range_are_quarantined_or_counted_nulls(project, tmp_path):
    lines = nci_lines(60)
    project.add_library(write_library(tmp_path / "l.smi", lines), "lib", 60)
    project.add_model(
        "wild",
        {
            "runner": "python",
            "callable": "precalc_assets_tests.faulty_models:unstorable_numbers",
            "columns": ["score", {"name": "extra", "nullable": True}],
        },
    )
    assert project.precalculate("wild", "lib-0000").success
    expected = expected_molecules(lines)
    nitrogen = {k for k, s in expected.items() if "N" in s.upper()}
    oxygen = {k for k, s in expected.items() if k not in nitrogen and "O" in s.upper()}
    assert nitrogen and oxygen
    # Not nullable: quarantined as out_of_range, never served.
    served = project.serving().get_many("wild", list(expected))
    assert set(served) == set(expected) - nitrogen
    store = project.store()
    quarantined = store.read_parquet(layout.quarantined("wild", "lib-0000")).to_pylist()
    assert {row["reason"] for row in quarantined} == {"out_of_range"}
    assert all(
        "score: in_serving_range(0 or 1e-130 <= |x| < 1e+126)" in row["detail"]
        for row in quarantined
    )
    # Nullable: null, and counted where the UI shows the partition.
    for key in oxygen:
        score, extra = served[key].outputs
        assert extra is None and score > 0
    for key in set(served) - oxygen:
        assert served[key].outputs[1] == 0.5
    metadata = project.latest_metadata("validated_predictions", "wild|lib-0000")
    assert f"| extra | {len(oxygen)} |" in metadata["nulled_values"]
    assert metadata["quarantined_rows"] == len(nitrogen)
