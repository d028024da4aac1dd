"""The hub-model walkthroughs of the README and `docs/running.md`, run verbatim
(`docs_commands`): repositories cloned (the offline stand-ins of `git clone`), an example
repository written by `precalc example-repo`, a served model (the stand-in of `ersilia
serve`), each registered and run in its own environment."""

from __future__ import annotations

import re

from precalc_assets_tests.docs_commands import (
    README_HUB_MODELS,
    RUNNING_HUB_MODELS,
    shell,
    walkthrough,
)


def _done(summary: str, model: str, slices: int) -> bool:
    return bool(re.search(rf"^{model} +{slices}/{slices} ", summary, re.MULTILINE))


def test_the_readmes_hub_models_register_and_run_in_their_environments(tmp_path):
    steps = walkthrough(README_HUB_MODELS)
    with shell(tmp_path / "clone") as terminal:
        out = terminal.run(*steps)
    register, wide, run = (out[step.where] for step in steps)
    assert "model 'eos3b5e' registered: runner command, columns mol_weight" in register
    assert "model 'eos8a4x' registered: runner command, columns 50 (" in wide
    assert "environment" in register and "reproduced its" in wide
    assert _done(run, "eos3b5e", 2) and _done(run, "eos8a4x", 2), run[-3000:]


def test_running_mds_repository_example_and_served_model_register_and_run(tmp_path):
    steps = walkthrough(RUNNING_HUB_MODELS)
    with shell(tmp_path / "clone") as terminal:
        out = terminal.run(*steps)
    _, cloned, example, served = (out[step.where] for step in steps)
    assert "model 'eos3b5e' registered: runner command" in cloned
    assert _done(cloned, "eos3b5e", 1), cloned[-3000:]
    assert "example repository written to" in example
    assert "model 'example-mw' reproduced its 4 example(s)" in example
    assert _done(example, "example-mw", 1), example[-3000:]
    assert "model 'eos3b5e-http' described by http://127.0.0.1:8080" in served
    assert _done(served, "eos3b5e-http", 1), served[-3000:]
