"""gan-lab's command line: ``python train.py model=dcgan trick=label_smoothing`` (see README)."""
from gan_lab.cli import train

if __name__ == "__main__":
    train()
