"""gan-lab: an experiment platform for training and studying GANs."""

from pathlib import Path

__version__ = "0.1.0"

# The Hydra configs: gan_lab/conf in an installed wheel (pyproject.toml ships conf/ there), else the
# checkout's top-level conf/ (python train.py, pip install -e). --config-dir / hydra.searchpath add more.
_PACKAGE_DIR = Path(__file__).resolve().parent
CONFIG_DIR = str(_PACKAGE_DIR / "conf" if (_PACKAGE_DIR / "conf").is_dir() else _PACKAGE_DIR.parent / "conf")
