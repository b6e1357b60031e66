"""One 3x3(x3) convolution per U-Net level shape, and the 2x2(x2) transposed convolution that
doubles a map: XLA's native operation against jaxseg's CPU lowering (`jaxseg/models/cpu_conv.py`)
and PyTorch, forward and gradient, in one process.

Why the CPU lowering exists and where its thresholds come from: XLA:CPU's own convolution falls off
a cliff on inputs no larger than the kernel (a U-Net's deepest maps) and trails oneDNN elsewhere.
Each row times the same convolution (batch 4 in 2D, 2 in 3D, C -> C channels, "SAME" padding,
float32, random values; transposed: C -> C / 2): median of 5 warm calls per side. jaxseg's form is what
`cpu_conv.conv_general_dilated` picks for the shape (native, window matrix product or depth taps);
its output is compared with the native one (max |difference| / max |native|).

    python benchmarks/conv_shapes.py
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from results_io import markdown, write_results

from jaxseg.models import cpu_conv

# (spatial, channels): unet2d_sigmoid's and pig_ct_2d's levels at 64^2, then a 3D U-Net's.
SHAPES = [((64, 64), 64), ((32, 32), 128), ((16, 16), 256), ((8, 8), 512), ((4, 4), 1024), ((2, 2), 512),
          ((1, 1), 1024), ((64, 64, 64), 16), ((32, 32, 32), 32), ((8, 8, 8), 256), ((6, 6, 6), 128),
          ((4, 4, 4), 320)]
# Transposed convolutions C -> C / 2 doubling (spatial).
TRANSPOSED = [((128, 128), 32), ((32, 32, 32), 32), ((16, 16, 16), 64)]
NUMBERS = {2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}


def median_ms(fn, rounds: int = 5) -> float:
    fn()
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return 1e3 * statistics.median(seconds)


def form_of(spatial: tuple[int, ...], x, w) -> str:
    hlo = jax.jit(lambda x, w: cpu_conv.conv_general_dilated(x, w, (1,) * len(spatial), "SAME",
                                                             dimension_numbers=NUMBERS[len(spatial)])
                  ).lower(x, w).as_text()
    if "stablehlo.convolution" not in hlo:
        return "window matrix product"
    return "depth taps" if len(spatial) == 3 else "native"


def jax_timings(conv, x, w) -> tuple[float, float, np.ndarray]:
    forward = jax.jit(conv)
    gradient = jax.jit(jax.grad(lambda x, w: jnp.sum(conv(x, w) ** 2), (0, 1)))
    return (median_ms(lambda: forward(x, w).block_until_ready()),
            median_ms(lambda: jax.block_until_ready(gradient(x, w))), np.asarray(forward(x, w)))


def torch_timings(x: np.ndarray, w: np.ndarray, transposed: bool = False) -> tuple[float, float] | None:
    try:
        import torch
    except ImportError:
        return None
    rank = x.ndim - 2
    layout = torch.channels_last_3d if rank == 3 else torch.channels_last
    xt = torch.from_numpy(np.moveaxis(x, -1, 1)).contiguous(memory_format=layout).requires_grad_()
    if transposed:  # PyTorch's layout (C_in, C_out, *K), as Flax's kernel (*K, C_in, C_out)
        op = {2: torch.nn.functional.conv_transpose2d, 3: torch.nn.functional.conv_transpose3d}[rank]
        wt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(w, (-2, -1), (0, 1)))).requires_grad_()
        options = {"stride": 2}
    else:
        op = {2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}[rank]
        wt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(w, (-1, -2), (0, 1)))).requires_grad_()
        options = {"padding": 1}

    def forward():
        with torch.inference_mode():
            op(xt, wt, **options)

    def gradient():
        torch.autograd.grad((op(xt, wt, **options) ** 2).sum(), (xt, wt))

    return median_ms(forward), median_ms(gradient)


def row_of(spatial: tuple[int, ...], channels: int, transposed: bool) -> dict:
    rank = len(spatial)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4 if rank == 2 else 2, *spatial, channels), dtype=np.float32)
    kernel = (2,) * rank + (channels, channels // 2) if transposed else (3,) * rank + (channels, channels)
    w = rng.standard_normal(kernel, dtype=np.float32) / np.float32(np.sqrt(np.prod(kernel[:-1])))

    def native(x, w):
        if transposed:
            return lax.conv_transpose(x, w, (2,) * rank, "VALID", dimension_numbers=NUMBERS[rank])
        return lax.conv_general_dilated(x, w, (1,) * rank, "SAME", dimension_numbers=NUMBERS[rank])

    def jaxseg(x, w):
        if transposed:
            return cpu_conv.conv_transpose_doubling(x, w)
        return cpu_conv.conv_general_dilated(x, w, (1,) * rank, "SAME", dimension_numbers=NUMBERS[rank])

    xj, wj = jnp.asarray(x), jnp.asarray(w)
    native_fwd, native_grad, expected = jax_timings(native, xj, wj)
    ours_fwd, ours_grad, got = jax_timings(jaxseg, xj, wj)
    torch_ms = torch_timings(x, w, transposed)
    return {"operation": "transposed 2x2 stride 2" if transposed else "3x3 convolution", "spatial": list(spatial),
            "channels": channels, "batch": x.shape[0],
            "form": "interleaved matrix product" if transposed else form_of(spatial, xj, wj),
            "native_forward_ms": native_fwd, "native_gradient_ms": native_grad, "jaxseg_forward_ms": ours_fwd,
            "jaxseg_gradient_ms": ours_grad,
            "relative_difference": float(np.abs(got - expected).max() / np.abs(expected).max()),
            "torch_forward_ms": torch_ms and torch_ms[0], "torch_gradient_ms": torch_ms and torch_ms[1]}


def main() -> None:
    rows = []
    for shapes, transposed in ((SHAPES, False), (TRANSPOSED, True)):
        for spatial, channels in shapes:
            rows.append(row_of(spatial, channels, transposed))
            print(rows[-1], flush=True)
    header = ["operation", "input (batch x spatial x C)", "jaxseg's form", "XLA native fwd / grad ms",
              "jaxseg fwd / grad ms", "PyTorch fwd / grad ms", "rel. difference"]
    table = markdown(header, [[r["operation"], f"{r['batch']} x {'x'.join(map(str, r['spatial']))} x {r['channels']}",
                               r["form"],
                               f"{r['native_forward_ms']:.3g} / {r['native_gradient_ms']:.3g}",
                               f"{r['jaxseg_forward_ms']:.3g} / {r['jaxseg_gradient_ms']:.3g}",
                               "" if r["torch_forward_ms"] is None else
                               f"{r['torch_forward_ms']:.3g} / {r['torch_gradient_ms']:.3g}",
                               r["relative_difference"]] for r in rows])
    write_results("conv_shapes", {"command": "python benchmarks/conv_shapes.py", "rows": rows}, table)
    print(table)


if __name__ == "__main__":
    main()
