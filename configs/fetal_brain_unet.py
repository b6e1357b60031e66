"""Seed 002's fetal-brain U-Net recipe, on a stand-in: spinal-cord MR.

The recipe (seed 002 §3-5): the seed's 2D U-Net (preset `unet2d_sigmoid`: padded 3x3
conv-BN-ReLU, concatenated skips, transposed-convolution upsampling, 64-1024 channels) on MR
slices of one orientation (one model per orientation: set data.plane to coronal, axial or
sagittal), resized to 512 x 512 (the seed: 640 -> 512); BCE; SGD, learning rate 0.01, momentum
0.9, the rate halved every 10 epochs, about 20 epochs to the plateau; single-object clean-up of
the prediction (largest connected component, holes filled).

The seed's fetal MRI (19 subjects, hospital data, no public copy) is not available. The stand-in
is the real cervical spinal-cord MR of the spinalcord_mri_ivadomed_sct sample folder: one object
(the cord) per axial slice in MR, like the fetal brain in the seed's slices. Its subject has three
contrasts (T1w, T2w, T2*), each with its own manual cord mask; data.root must be a Decathlon
folder listing them as three cases with their own subject names (1 trains, 1 validates, 1 is
held out), for example

    imagesTr/unf01_{T1w,T2w,T2star}.nii.gz  labelsTr/unf01_{T1w,T2w,T2star}.nii.gz
    dataset.json: {"modality": {"0": "MR"}, "labels": {"0": "background", "1": "cord"}, "training": [...]}

Being one person, the three cases test that the recipe runs, not how it generalises. With 16
axial slices per case and batch 8 an epoch is 2 steps: the rate halves at steps 20 and 40 (epochs
10 and 20), and training stops after 30 epochs.

Exactly the seed: the network with its one sigmoid output and BCE. Differences, and why: the batch
size is not stated for this U-Net: 8, the seed's batch for its U-Net+GAN at 512^2; intensities are
z-scored per volume.
"""

from jaxseg.config import base_config


def get_config():
    c = base_config()
    c.name = "fetal_brain_unet"
    c.data.source = "msd"
    c.data.plane = "axial"
    c.data.num_val = 1
    c.data.num_test = 1
    c.data.normalize = "zscore"
    c.data.batch_size = 8
    c.prepare.slice_size = (512, 512)
    c.model.name = "unet2d_sigmoid"
    c.model.head = "sigmoid"
    c.model.num_classes = 2
    c.model.in_channels = 1
    c.loss.name = "bce"
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.01
    c.optimizer.momentum = 0.9
    c.optimizer.schedule = "piecewise"
    c.optimizer.boundaries = (20, 40)
    c.optimizer.decay_factor = 0.5
    c.inference.largest_component = True
    c.inference.fill_holes = True
    c.train.steps = 60
    c.train.log_every = 2
    c.train.val_every = 10
    c.train.checkpoint_every = 10
    return c
