"""The `jaxseg demo` experiment: a 2D U-Net on axial slices of generated torso CT phantoms.

14 phantoms (64 x 64 x ~32 voxels of 6 x 6 x 8 mm; liver, spleen, kidneys, spine): 10 train,
1 validates (best checkpoint), 3 are held out for evaluation. Sized to train on 2 CPU cores in
a few minutes.
"""

from jaxseg.config import base_config


def get_config():
    c = base_config()
    c.name = "demo"
    c.data.source = "phantom"
    c.data.num_val = 1
    c.data.num_test = 3
    c.data.batch_size = 16
    c.phantom.num_cases = 14
    c.model.features = (16, 32, 64, 128)
    c.model.num_classes = 5
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 3e-3
    c.optimizer.schedule = "cosine"
    c.optimizer.warmup_steps = 20
    c.train.steps = 300
    c.train.log_every = 20
    c.train.val_every = 100
    c.train.checkpoint_every = 100
    return c
