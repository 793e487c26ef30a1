"""``hydra.utils.instantiate`` that lets our own errors through unwrapped.

Hydra wraps any exception raised by a ``_target_`` in ``InstantiationException``; a
``GanLabError`` (a bad value with its fix) is re-raised as itself, so the user sees one line.
"""
from __future__ import annotations

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate as hydra_instantiate

from gan_lab.errors import GanLabError


def instantiate(config: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return hydra_instantiate(config, *args, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while cause is not None and not isinstance(cause, GanLabError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise
