"""Semi-supervised learning with a K+1-class GAN discriminator (Salimans et al. 2016, §5)."""
