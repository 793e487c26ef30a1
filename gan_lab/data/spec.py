"""What the nets and the objective need to know about the data, read from the ``data`` config
alone (no file is opened): a checkpoint rebuilds its nets on a machine without the dataset."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DataSpec:
    kind: str  # "image" | "points"
    example_shape: tuple[int, ...]  # [C, H, W] or [2]
    num_classes: int | None  # None: the data has no class labels
    name: str

    @classmethod
    def of(cls, data_cfg: Any) -> DataSpec:
        if data_cfg.kind == "points":
            shape: tuple[int, ...] = (2,)
        else:
            shape = (int(data_cfg.channels), int(data_cfg.image_size), int(data_cfg.image_size))
        return cls(str(data_cfg.kind), shape, data_cfg.get("num_classes"), str(data_cfg.name))
