"""A torch-fidelity InceptionV3 weights file with random weights in the real layout, built offline.

For what needs the Inception code path but not its trained weights: the tests (which never download)
and ``benchmarks/metrics_speed.py`` (the same network, so the same cost; meaningless values). The
network is torch-fidelity's own class; only its loading is bypassed while the layout is read.
BatchNorm statistics are then calibrated on random images (one train-mode forward with cumulative
averaging), so that features have unit scale instead of vanishing through the ~95 random layers, and
FID / KID / IS have sizes worth comparing.
"""
from __future__ import annotations

from pathlib import Path
from unittest import mock

import torch


def build_random_inception_weights(path: Path, seed: int = 0) -> Path:
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    torch.manual_seed(seed)
    with mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: {}), \
            mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None):
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: the running stats become this batch's stats
    net.train()
    with torch.no_grad():
        net(torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)))
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = 0.1
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path
