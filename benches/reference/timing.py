"""Timing shared by the PyTorch reference scripts: CUDA events around batches of calls."""
import torch


def timed(fn, iters, warmup=3, batches=9):
    """Median seconds per call of `fn` over `batches` batches of `iters` calls, after warm-up."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(batches):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) / 1e3 / iters)
    return sorted(samples)[len(samples) // 2]
