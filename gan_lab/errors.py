"""User-facing errors: each message says what is wrong and what to type instead."""


class GanLabError(Exception):
    """Base class of the errors gan-lab reports to the user as one readable line."""


class ConfigError(GanLabError, ValueError):
    """An option that does not exist, an impossible value or an impossible combination."""


class DataError(GanLabError):
    """A dataset that is missing, unreadable or too small for the requested run."""


class TrainingDiverged(GanLabError, RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def is_whole_number(value: object, minimum: int = 1) -> bool:
    """True for an ``int`` >= ``minimum`` that is not a bool (YAML's ``true`` is an int to Python)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
