"""Datasets, their splits, cases in memory, 2D slice pipelines and synthetic phantoms."""
