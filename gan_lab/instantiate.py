"""``hydra.utils.instantiate`` whose failures read as one line that says what to type.

Hydra wraps any exception raised by a ``_target_`` in ``InstantiationException``. A ``GanLabError``
(a bad value with its fix) is re-raised as itself; a misspelt option (``TypeError: unexpected
keyword argument``) becomes a ``ConfigError`` naming the key and the options the class takes.
"""
from __future__ import annotations

import inspect
import re
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_object
from hydra.utils import instantiate as hydra_instantiate

from gan_lab.errors import ConfigError, GanLabError

_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


def _options_of(target: str) -> list[str]:
    """The keyword options of ``target`` and of the classes it inherits them from (for messages)."""
    obj = get_object(target)
    names: list[str] = []
    for cls in inspect.getmro(obj) if inspect.isclass(obj) else [obj]:
        init = cls.__init__ if inspect.isclass(obj) else cls
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        names += [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in names]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names


def instantiate(config: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return hydra_instantiate(config, *args, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while cause is not None and not isinstance(cause, GanLabError):
            if isinstance(cause, TypeError) and _UNEXPECTED.search(str(cause)):
                break
            cause = cause.__cause__
        if isinstance(cause, GanLabError):
            raise cause from None
        if isinstance(cause, TypeError):
            key = _UNEXPECTED.search(str(cause)).group(1)
            full_key = re.search(r"full_key: (\S+)", str(err))
            where = f"{full_key.group(1)}." if full_key else ""
            target = config.get("_target_", "?") if hasattr(config, "get") else "?"
            options = ", ".join(o for o in _options_of(target) if o not in ("loss",)) if target != "?" else "?"
            raise ConfigError(f"{where}{key} is not an option of {target}: its options are {options}") from None
        raise
