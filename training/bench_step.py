"""CPU cost of one training step per backbone and input size (forward + backward + AdamW).

    python -m training.bench_step

Random input and labels, batch 16, 2 threads, 1 warm-up step then 3 timed. Prints CPU-ms per
training image (time.process_time, which on a shared machine is inflated by contention: compare
ratios) and wall images/s.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from training.nets import make_net

CASES = (("mobilenet_v2", 160), ("mobilenet_v2", 192), ("mobilenet_v2", 224), ("mobilenet_v3_small", 192))


def main(batch: int = 16, steps: int = 3) -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    for backbone, size in CASES:
        net = make_net(backbone, None).train()
        opt = torch.optim.AdamW(net.parameters(), 1e-3)
        x, y = torch.randn(batch, 3, size, size), torch.rand(batch).round()
        cpu = wall = 0.0
        for i in range(steps + 1):
            c0, w0 = time.process_time(), time.time()
            loss = F.binary_cross_entropy_with_logits(net(x).squeeze(1), y)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            if i:  # step 0 is warm-up
                cpu, wall = cpu + time.process_time() - c0, wall + time.time() - w0
        print(f"{backbone} {size}px: {cpu / (steps * batch) * 1000:.0f} CPU-ms/img, "
              f"{steps * batch / wall:.1f} img/s wall", flush=True)


if __name__ == "__main__":
    main()
