"""Sample-quality metrics: FID / IS / mode coverage on a project-trained digit classifier, 2-D mode coverage."""
