"""Device peaks, FLOP and MFU arithmetic, the power-law fit and the planner's search, on hand cases."""

import numpy as np
import pytest

from jaxseg.perf.peaks import achieved_tflops, device_name, lookup_peak, mfu
from jaxseg.perf.scaling import power_law_fit
from jaxseg.plan import largest_fitting, parse_bytes


@pytest.mark.parametrize("kind, name, bf16, memory", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 989.0, 80),
    ("NVIDIA H100 PCIe", "H100 PCIe", 756.0, 80),
    ("NVIDIA H200", "H200", 989.0, 141),
    ("NVIDIA A100-SXM4-40GB", "A100 40GB", 312.0, 40),
    ("NVIDIA A100-SXM4-80GB", "A100 80GB", 312.0, 80),
    ("NVIDIA GeForce RTX 3070", "RTX 3070", 40.6, 8),
    ("NVIDIA GeForce GTX 1080", "GTX 1080", 8.87, 8),
    ("NVIDIA GeForce GTX 1070", "GTX 1070", 6.46, 8),
])
def test_peak_lookup(kind, name, bf16, memory):
    peak = lookup_peak(kind)
    assert (peak.name, peak.tflops["bfloat16"], peak.memory_gb) == (name, bf16, memory)


def test_peak_lookup_unknown_and_fp32():
    assert lookup_peak("cpu") is None
    assert lookup_peak("Tesla T4") is None
    assert lookup_peak("NVIDIA A100-PCIE-40GB").tflops["float32"] == 156.0  # TF32, JAX's default on Ampere.
    assert lookup_peak("NVIDIA GeForce GTX 1080").tflops["float32"] == 8.87  # No tensor cores.


def test_device_name_sanitised():
    class Kind:
        device_kind = "NVIDIA H100 80GB HBM3"

    assert device_name(Kind()) == "nvidia-h100-80gb-hbm3"


def test_flops_and_mfu_hand_case():
    # ANCHORS-PERFORMANCE section 5: nnU-Net-like 3D U-Net at 128^3, 3.2 TFLOP per training sample;
    # DLE's A100 AMP batch 2 at 27.5 samples/s -> 88 TFLOP/s -> 28.2% of the 312 TFLOP/s bf16 peak.
    step_seconds = 2 / 27.5
    assert achieved_tflops(2 * 3.2e12, step_seconds) == pytest.approx(88.0)
    assert mfu(2 * 3.2e12, step_seconds, lookup_peak("NVIDIA A100-SXM4-40GB").tflops["bfloat16"]) == pytest.approx(
        88.0 / 312.0)
    assert mfu(2 * 3.2e12, step_seconds, 312.0, devices=8) == pytest.approx(88.0 / 312.0 / 8)


def test_power_law_fit_recovers_exponent():
    sizes = np.array([64, 96, 128, 160]) ** 3
    exponent, coefficient = power_law_fit(sizes, 2.5e-6 * sizes**1.1)
    assert exponent == pytest.approx(1.1, abs=1e-9)
    assert coefficient == pytest.approx(2.5e-6, rel=1e-6)
    noisy = 3e-3 * sizes**0.8 * np.array([1.02, 0.98, 1.01, 0.99])
    assert power_law_fit(sizes, noisy)[0] == pytest.approx(0.8, abs=0.03)
    with pytest.raises(ValueError):
        power_law_fit([128, 128], [1.0, 2.0])


def test_parse_bytes():
    assert parse_bytes("8GiB") == 8 * 2**30
    assert parse_bytes("8GB") == 8 * 10**9
    assert parse_bytes("1.5 MiB") == 3 * 2**19
    assert parse_bytes("4096") == 4096
    for bad in ("8 gigs", "", "-1GB", "0"):
        with pytest.raises(ValueError):
            parse_bytes(bad)


@pytest.mark.parametrize("threshold, unit, expected", [(37, 1, 37), (37, 4, 36), (1, 1, 1), (0, 1, 0),
                                                       (3, 4, 0), (10**6, 1, 1000)])
def test_largest_fitting(threshold, unit, expected):
    calls = []

    def fits(n):
        calls.append(n)
        return n <= threshold

    assert largest_fitting(fits, unit, limit=1000) == expected
    assert all(n % unit == 0 and n <= 1000 for n in calls)
    assert len(calls) <= 2 * 10 + 2  # Doubling then bisection: logarithmic in the answer.
