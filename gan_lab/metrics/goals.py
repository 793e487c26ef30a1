"""Which way a metric improves (``min`` or ``max``), by its name: what W&B's run summary, the
best-checkpoint monitor and the sweep reports read."""
from __future__ import annotations

import re

#: better-is-lower metric families (the rest of the named ones are better-is-higher), matched from the start of
#: a ``_``-separated part of the name (``clf_fid5k``, ``clf_intra_fid5k``; not ``clf_confident5k``)
_LOWER = re.compile(r"(?:^|_)(?:fid|kid|class_kl|stacked_kl)")
_HIGHER = ("_is", "precision", "recall", "density", "coverage", "classes_covered", "modes_covered",
           "high_quality_fraction", "accuracy", "class_match")


def goal(key: str) -> str | None:
    """'min' or 'max': which way a ``metrics/...`` value improves (None: neither is known), for W&B's
    run summary, best-checkpoint monitors and sweep reports."""
    name = key.removeprefix("metrics/")
    if name.endswith("_se"):  # the standard error over the members of an ensemble of seeds
        return None
    if _LOWER.search(name) or "error" in name:
        return "min"
    if any(part in f"_{name}" for part in _HIGHER):
        return "max"
    return None


def is_fid(key: str) -> bool:
    """``metrics/...`` is an FID (``clf_fid5k``, ``fid``, ``clf_intra_fid5k``, ``clf_fid5k_class_3``), by the
    start of a ``_``-separated part of its name: ``clf_confident5k`` is not."""
    return key.startswith("metrics/") and re.search(r"(?:^|_)fid", key.removeprefix("metrics/")) is not None
