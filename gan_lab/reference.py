"""Write FID reference statistics: ``python -m gan_lab.reference data=NAME out=stats.npz`` (or
``folder=DIR``), a Hydra app over ``conf/reference.yaml``.

The file is what pytorch-fid and clean-fid write and read: an ``.npz`` with ``mu`` [2048] and
``sigma`` [2048, 2048] (float64, torch-fidelity's ``fid_features_to_statistics``: np.mean, np.cov) of
the Inception pool3 features of the real images, extracted by the network the Inception metrics use
(``gan_lab.metrics.inception``), plus ``extractor``, ``num_images``, ``source`` and ``weights``
entries (readers of the two keys ignore them). ``python -m gan_lab.evaluate ... reference=stats.npz``
and training with ``metrics.reference=stats.npz`` compute FID against it instead of the dataset.

Only ``metrics=inception`` writes files for now: the classifier metrics compare with statistics
they cache themselves.
"""
from __future__ import annotations

import json

import hydra
from omegaconf import DictConfig

from gan_lab.cli import CONFIG_DIR, report_errors

USAGE = ("python -m gan_lab.reference (data=NAME | folder=DIR) out=STATS.npz [data.KEY=VALUE ...] [metrics=inception] "
         "[metrics.inception_weights=FILE] [num_real=N] [split=train|val] [image_size=N] [batch_size=N]")


def check_options(cfg: DictConfig) -> None:
    from gan_lab.errors import ConfigError

    if not cfg.get("out"):
        raise ConfigError(f"out= is required, the .npz to write: {USAGE}")
    if (cfg.get("data") is None) == (cfg.folder is None):
        raise ConfigError(f"give exactly one of data=NAME or folder=DIR: {USAGE}")
    if "inception_weights" not in cfg.metrics:  # only the Inception extractor's group names its weights
        raise ConfigError(f"metrics={cfg.metrics.get('name')}: reference statistics are Inception pool3 statistics "
                          "(what pytorch-fid and clean-fid read): use metrics=inception")
    for key in ("num_real", "batch_size", "image_size"):
        value = cfg.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{key}={value}: must be a positive integer")
    if cfg.split not in ("train", "val"):
        raise ConfigError(f"split={cfg.split}: use split=train or split=val")
    if cfg.image_size is not None and cfg.folder is None:
        raise ConfigError(f"image_size={cfg.image_size} is for folder=; with data= set data.image_size={cfg.image_size}")


def write_statistics(cfg: DictConfig) -> dict:
    """Extract the real images' features, write ``cfg.out``; what was written, as a dict."""
    import torch

    from gan_lab.errors import ConfigError
    from gan_lab.instantiate import instantiate
    from gan_lab.metrics.inception import real_batches
    from gan_lab.metrics.statistics import folder_data, write_reference

    if cfg.folder is not None:
        data, dataset, split, source = folder_data(cfg.folder, cfg.image_size), "folder", "train", f"folder {cfg.folder}"
    else:
        dataset, split = str(cfg.data.name), str(cfg.split)
        data, source = instantiate(cfg.data).prepare(for_training=False), f"data={dataset} {split} split"
    if data.kind != "image":
        raise ConfigError(f"data={dataset} is 2-D points: reference statistics are of images")
    options = {"batch_size": cfg.batch_size} if cfg.batch_size is not None else {}
    scorer = instantiate(cfg.metrics.scorer, dataset=dataset, reference=None, **options)  # checks and loads the weights
    if torch.cuda.is_available():
        scorer.extractor.to("cuda")
    features = torch.cat([scorer.features(batch).cpu() for batch in real_batches(data, split, scorer.batch_size, cfg.num_real)])
    write_reference(cfg.out, features, scorer.extractor_name, source=source, weights=str(scorer.weights))
    return {"out": str(cfg.out), "num_images": int(features.shape[0]), "feature_dim": int(features.shape[1]),
            "extractor": scorer.extractor_name, "source": source, "weights": str(scorer.weights)}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="reference")
def main(cfg: DictConfig) -> None:
    def body() -> None:
        check_options(cfg)
        print(json.dumps(write_statistics(cfg), indent=2))

    report_errors(body)


if __name__ == "__main__":
    main()
