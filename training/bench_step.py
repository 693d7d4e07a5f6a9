"""CPU cost of one training step per backbone and input size (forward + backward + AdamW).

    python -m training.bench_step [--layouts]

Random input and labels, batch 16, 2 threads, 1 warm-up step then 3 timed. Prints CPU-ms per
training image (time.process_time, which on a shared machine is inflated by contention: compare
ratios) and wall images/s. `--layouts` instead compares, for MobileNetV2 at 256 px and batch 32, the
memory layout (contiguous vs channels-last) and bfloat16 autocast, the options `training.train` uses.
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F

from training.nets import make_net

CASES = (("mobilenet_v2", 160), ("mobilenet_v2", 192), ("mobilenet_v2", 224), ("mobilenet_v3_small", 192))


def step_cost(backbone: str, size: int, batch: int, steps: int, channels_last: bool = False,
              bf16: bool = False) -> tuple[float, float]:
    """(CPU-ms per image, wall images/s) of `steps` timed training steps after one warm-up step."""
    net = make_net(backbone, None).train()
    x, y = torch.randn(batch, 3, size, size), torch.rand(batch).round()
    if channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    cpu = wall = 0.0
    for i in range(steps + 1):
        c0, w0 = time.process_time(), time.time()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logit = net(x).squeeze(1).float()
        loss = F.binary_cross_entropy_with_logits(logit, y)
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        if i:  # step 0 is warm-up
            cpu, wall = cpu + time.process_time() - c0, wall + time.time() - w0
    return cpu / (steps * batch) * 1000, steps * batch / wall


def main(argv: list[str] | None = None) -> None:
    layouts = "--layouts" in (sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    if layouts:
        for channels_last, bf16 in ((False, False), (True, False), (True, True)):
            cpu, rate = step_cost("mobilenet_v2", 256, 32, 3, channels_last, bf16)
            print(f"mobilenet_v2 256px batch 32, {'channels-last' if channels_last else 'contiguous'}, "
                  f"{'bf16 autocast' if bf16 else 'fp32'}: {cpu:.0f} CPU-ms/img, {rate:.1f} img/s wall", flush=True)
        return
    for backbone, size in CASES:
        cpu, rate = step_cost(backbone, size, 16, 3)
        print(f"{backbone} {size}px: {cpu:.0f} CPU-ms/img, {rate:.1f} img/s wall", flush=True)


if __name__ == "__main__":
    main()
