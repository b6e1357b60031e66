"""Self-configuration from a dataset (`jaxseg fingerprint`, `jaxseg plan --dataset`).

fingerprint: what the raw cases are (shapes, spacings, foreground intensities, class voxels).
rules:       nnU-Net v2's planning rules as pure functions (target spacing, normalisation, topology, batch cap).
search:      patch and batch chosen by XLA's compiled memory analysis of the real train step.
writer:      the 2D and 3D config files, every decision commented with the numbers behind it.
"""
