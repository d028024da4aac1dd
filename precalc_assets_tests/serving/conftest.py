"""Fixtures of the lookup tests."""

from __future__ import annotations

from typing import Any

import pytest

from precalc_assets import chem


@pytest.fixture
def identified(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SMILES texts a lookup identifies (RDKit parse and InChIKey), call by call."""
    calls: list[str] = []
    real = chem.identify_with_detail

    def counting(text: str, *args: Any) -> Any:
        calls.append(text)
        return real(text, *args)

    monkeypatch.setattr(chem, "identify_with_detail", counting)
    return calls
