"""Read an offline W&B run (``run-*.wandb``) back from disk, for the tests.

The file is a LevelDB-style log (the format of wandb's former ``datastore.py``): a 7-byte
header (":W&B", magic 0xBEE1, version 0), then 32 KiB blocks of chunks, each with a 7-byte
header (crc32, length, type: 1 full, 2 first, 3 middle, 4 last); a chunk header never straddles
a block boundary (the block tail is zero padding). Each record is a ``wandb_internal.Record``.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK = 32 * 1024
HEADER = struct.Struct("<IHB")


def records(path: Path, timeout: float = 60.0):
    """The run's records, once the file is whole: wandb's service process writes it and may still be
    writing when the training process has returned (a load-dependent race seen in CI: the define_metric
    records were not in the file yet), so the file is read again until it holds the run's ``exit``
    record, for up to ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        found = list(_parse(path))
        if any(r.WhichOneof("record_type") == "exit" for r in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _parse(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    ident, magic, version = struct.unpack("<4sHB", data[:7])
    assert ident == b":W&B" and magic == 0xBEE1, "not a W&B datastore file"
    pos, pending = 7, b""
    while pos + HEADER.size <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < HEADER.size:
            pos += left_in_block
            continue
        _, length, kind = HEADER.unpack_from(data, pos)
        pos += HEADER.size
        chunk, pos = data[pos : pos + length], pos + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            yield record
            pending = b""


def history(path: Path) -> list[dict]:
    """The rows logged with ``wandb.log`` (metrics and image references), in order."""
    rows = []
    for record in records(path):
        if record.WhichOneof("record_type") == "history":
            rows.append({"/".join(item.nested_key) or item.key: json.loads(item.value_json) for item in record.history.item})
    return rows


def _updates(path: Path, kind: str) -> dict:
    """The ``config`` or ``summary`` records' updates, by key, the last update of a key winning."""
    values: dict = {}
    for record in records(path):
        if record.WhichOneof("record_type") == kind:
            for item in getattr(record, kind).update:
                values["/".join(item.nested_key) or item.key] = json.loads(item.value_json)
    return values


def config(path: Path) -> dict:
    """The run's config as W&B holds it (the ``config`` records' updates, by top-level key)."""
    return _updates(path, "config")


def run_record(path: Path):
    """The run's ``RunRecord`` (project, group, display name, ...)."""
    return next(r.run for r in records(path) if r.WhichOneof("record_type") == "run")


def metric_goals(path: Path) -> dict[str, str]:
    """``define_metric(name, summary=...)`` of the run: {name: 'min' | 'max'}."""
    goals = {}
    for record in records(path):
        if record.WhichOneof("record_type") == "metric" and record.metric.name:
            summary = record.metric.summary
            goals[record.metric.name] = "min" if summary.min else "max" if summary.max else "last"
    return goals


def summary(path: Path) -> dict:
    """The run summary as the last ``summary`` records left it (by key)."""
    return _updates(path, "summary")
