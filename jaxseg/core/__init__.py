"""What training and inference share: the device mesh with its shardings, and the model state."""
