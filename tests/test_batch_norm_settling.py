"""`fit` warns before training when batch norm's running statistics cannot settle in the run."""

import pytest

from jaxseg.config import load_config
from jaxseg.train.batch_norm_settling import unsettled_batch_norm


def test_a_short_run_of_a_slow_batch_norm_is_warned_with_the_steps_and_momentum_that_settle():
    warning = unsettled_batch_norm(load_config("configs/pig_ct_unet2d.py", ["train.steps=120"]))
    # 0.99^120 = 0.299; 0.99^299 = 0.0495 <= 0.05 < 0.99^298; 0.97^120 = 0.026 but 0.98^120 = 0.089.
    assert warning == ("batch norm's running statistics will still hold 30% of their initial values after 120 "
                       "steps (model.bn_momentum=0.99), and validation and inference use them: train 299 steps "
                       "or more, or set model.bn_momentum to 0.97 or lower")


@pytest.mark.parametrize("overrides", [
    [],  # the seed's 20,000 steps
    ["train.steps=120", "model.bn_momentum=0.9"],  # 0.9^120: nothing left
    ["train.steps=10", "model.norm=instance"],  # no running statistics
])
def test_runs_whose_statistics_settle_are_not_warned(overrides):
    assert unsettled_batch_norm(load_config("configs/pig_ct_unet2d.py", overrides)) is None
