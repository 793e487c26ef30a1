"""Which way a metric improves (``min`` or ``max``), by its name: what W&B's run summary, the
best-checkpoint monitor and the sweep reports read."""
from __future__ import annotations

#: better-is-lower metric families (the rest of the named ones are better-is-higher)
_LOWER = ("fid", "kid", "class_kl", "stacked_kl")
_HIGHER = ("_is", "precision", "recall", "density", "coverage", "classes_covered", "modes_covered",
           "high_quality_fraction", "accuracy", "class_match")


def goal(key: str) -> str | None:
    """'min' or 'max': which way a ``metrics/...`` value improves (None: neither is known), for W&B's
    run summary, best-checkpoint monitors and sweep reports."""
    name = key.removeprefix("metrics/")
    if name.endswith("_se"):  # the standard error over the members of an ensemble of seeds
        return None
    if any(part in name for part in _LOWER) or "error" in name:
        return "min"
    if any(part in f"_{name}" for part in _HIGHER):
        return "max"
    return None
