"""Known bad input ends a command with its message and exit code 1, not a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from precalc_assets.stores.errors import StoreError

# The project's input errors (LibraryError, ModelError, InvalidIdError, InstanceMismatch)
# are all ValueErrors; catching them by that base keeps this module free of RDKit.
USER_ERRORS = (StoreError, ValueError, OSError)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except click.ClickException:
        raise
    except USER_ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
