"""Training: state, optimiser, sharded steps, checkpoints, the fit loop and its logs."""
