"""Datasets and splits, the prepared cache, grain samplers (slices, blocks, volumes, propagated pairs),
augmentation and synthetic phantoms."""
