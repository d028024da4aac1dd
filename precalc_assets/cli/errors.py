"""Known bad input ends a command with its message and exit code 1, not a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from precalc_assets.ids import InvalidIdError
from precalc_assets.inputs.library_files import LibraryError
from precalc_assets.models.spec import ModelError
from precalc_assets.stores.errors import StoreError

USER_ERRORS = (LibraryError, ModelError, InvalidIdError, StoreError, ValueError, OSError)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except click.ClickException:
        raise
    except USER_ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
