"""jaxseg's planner against nnU-Net v2's recorded decisions (tests/data/nnunet_plans.json, written by
benchmarks/nnunet_plan_reference.py) on the same datasets, without torch.

Compared where the rules are the same: target spacing, resampled median shape, normalisation scheme
and non-zero mask, pools per axis and the patch nnU-Net's topology rule gives before any memory
shrinking, in 3D and 2D. Deliberately different: the patch nnU-Net shrank by its VRAM proxy (BRATS),
which jaxseg shrinks by measured memory instead (there only the pools of nnU-Net's final patch are
checked), and the batch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxseg.data.msd import read_msd_index
from jaxseg.planning import rules
from jaxseg.planning.fingerprint import dataset_fingerprint

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import nnunet_plan_reference as reference  # noqa: E402

RECORDED = json.loads((REPO / "tests" / "data" / "nnunet_plans.json").read_text())["datasets"]
SHRUNK_BY_NNUNET_PROXY = {"BRATS"}  # 240 x 240 x 155 at 1 mm: nnU-Net's 8 GB proxy cut the 3D patch to 160 x 160 x 96.
WRITERS = {"Phantom": lambda root: reference.write_phantoms(root, 1, "Phantom"),
           "PhantomAniso": lambda root: reference.write_phantoms(root, 2, "PhantomAniso"),
           "Spleen": lambda root: reference.write_spleen(root, 3),
           "BRATS": lambda root: reference.write_brats(root, 4),
           "SpinalCord": lambda root: reference.write_spinalcord(root, 5)}


@pytest.fixture(scope="module", params=list(WRITERS))
def planned(request, tmp_path_factory):
    """(name, nnU-Net's recorded decisions, jaxseg's fingerprint) of one dataset; skipped when its
    shared data is absent."""
    folder = WRITERS[request.param](tmp_path_factory.mktemp(request.param))
    if folder is None:
        pytest.skip(f"{request.param}: its files are not in ../shared/data")
    return request.param, RECORDED[request.param], dataset_fingerprint(read_msd_index(folder))


def test_target_spacing_and_median_shape(planned):
    _, nnunet, fp = planned
    spacing = rules.target_spacing(fp["spacings"], fp["shapes_after_crop"])
    np.testing.assert_allclose(spacing, nnunet["target_spacing"], rtol=1e-5)
    median = rules.resampled_median_shape(fp["spacings"], fp["shapes_after_crop"], spacing)
    assert median.tolist() == nnunet["median_shape"]


def test_normalization_scheme_and_mask(planned):
    _, nnunet, fp = planned
    schemes = rules.normalization(fp["channels"], fp["median_relative_size_after_crop"])
    assert [s for s, _ in schemes] == nnunet["normalization"]
    assert [m for _, m in schemes] == nnunet["use_mask_for_norm"]


def test_3d_pools_and_patch(planned):
    name, nnunet, fp = planned
    spacing = rules.target_spacing(fp["spacings"], fp["shapes_after_crop"])
    median = rules.resampled_median_shape(fp["spacings"], fp["shapes_after_crop"], spacing)
    # The rule itself, on nnU-Net's final patch:
    assert rules.pool_and_conv_props(spacing, nnunet["patch_3d"])[0] == nnunet["pools_3d"]
    pools, _, _, padded = rules.pool_and_conv_props(spacing, rules.initial_patch(spacing, median))
    if name in SHRUNK_BY_NNUNET_PROXY:
        assert np.prod(padded) > np.prod(nnunet["patch_3d"])  # jaxseg starts where nnU-Net started, then measures.
    else:
        assert (padded, pools) == (nnunet["patch_3d"], nnunet["pools_3d"])


def test_2d_plane_pools_and_patch(planned):
    name, nnunet, fp = planned
    spacing = rules.target_spacing(fp["spacings"], fp["shapes_after_crop"])
    if np.sort(spacing)[-1] / np.sort(spacing)[-2] < 1.001:
        pytest.skip(f"{name}: near-isotropic spacing {spacing}: the 2D slice axis is a tie nnU-Net breaks by "
                    "float noise in its own axis order")
    median = rules.resampled_median_shape(fp["spacings"], fp["shapes_after_crop"], spacing)
    normal = int(np.argmax(spacing))
    assert normal == nnunet["normal_2d"]
    in_plane = np.delete(spacing, normal)
    start = rules.initial_patch(in_plane, np.delete(median, normal))
    pools, _, _, padded = rules.pool_and_conv_props(in_plane, start)
    assert (padded, pools) == (nnunet["patch_2d"], nnunet["pools_2d"])
