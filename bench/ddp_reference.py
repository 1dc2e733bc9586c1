#!/usr/bin/env python3
"""PyTorch DDP (Gloo, CPU) reference for `npm run bench:ddp`.

Trains the same model as ringtrain's built-in job (mnist-mlp: 784-128-10; mnist-cnn: conv 3x3x8,
max-pool 2, conv 3x3x16, max-pool 2, dense 10) on the same training split, exported by
bench/ddp.ts as raw float32 files, with the same per-worker batch size, Adam (betas 0.9/0.999,
epsilon 1e-7 as tfjs) and epochs, on `--workers` processes on this machine. Each rank takes its
share of a seeded permutation per epoch (DistributedSampler, drop_last=False) and the model is
evaluated on the test split at the end of every epoch, as ringtrain does. Each process gets
cores/workers intra-op threads (torchrun's OMP_NUM_THREADS convention).

Prints one JSON line: samples/s over the training loop (first step to the last epoch's
evaluation, the span ringtrain's samplesPerSec covers), wall time, time to the first step, test
accuracy.

Needs torch (Debian: apt-get install python3-torch) and numpy.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset


def build(job):
    if job == "mnist-mlp":
        return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    if job == "mnist-cnn":
        return nn.Sequential(
            nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(16 * 5 * 5, 10))
    raise SystemExit(f"unknown job {job}")


def load(data_dir, split, job):
    meta = json.load(open(os.path.join(data_dir, "meta.json")))
    n = meta[split]
    x = torch.from_numpy(np.fromfile(os.path.join(data_dir, f"{split}-x.f32"), dtype=np.float32).reshape(n, 784))
    y = torch.from_numpy(np.fromfile(os.path.join(data_dir, f"{split}-y.f32"), dtype=np.float32).reshape(n, 10).argmax(1))
    if job == "mnist-cnn":
        x = x.reshape(n, 1, 28, 28)
    return TensorDataset(x, y)


def worker(rank, args, t_launch, queue):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(args.port)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.workers))
    dist.init_process_group("gloo", rank=rank, world_size=args.workers)
    torch.manual_seed(args.seed)
    model = DDP(build(args.job))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-7)
    train = load(args.data, "train", args.job)
    test = load(args.data, "test", args.job)
    sampler = DistributedSampler(train, num_replicas=args.workers, rank=rank, shuffle=True, seed=args.seed, drop_last=False)
    loader = DataLoader(train, batch_size=args.batch_size, sampler=sampler)
    dist.barrier()
    t0 = None
    samples = 0
    acc = None
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        model.train()
        for x, y in loader:
            if t0 is None:
                t0 = time.time()
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            samples += x.shape[0]
        model.eval()
        with torch.no_grad():
            acc = (model(test.tensors[0]).argmax(1) == test.tensors[1]).float().mean().item()
    dist.barrier()
    t1 = time.time()
    total = torch.tensor([samples], dtype=torch.float64)
    dist.all_reduce(total)
    if rank == 0:
        queue.put({"samples": int(total.item()), "trainSeconds": t1 - t0, "firstStepSeconds": t0 - t_launch, "testAccuracy": acc, "finalLoss": loss.item()})
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--job", default="mnist-mlp")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--port", type=int, default=29517)
    p.add_argument("--data", required=True, help="folder with meta.json and {train,test}-{x,y}.f32 (bench/ddp.ts writes it)")
    args = p.parse_args()
    t_launch = time.time()
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.spawn(worker, args=(args, t_launch, queue), nprocs=args.workers, join=True)
    r = queue.get()
    r.update({"bench": "ddp-pytorch", "job": args.job, "workers": args.workers, "batchSize": args.batch_size, "epochs": args.epochs,
              "samplesPerSec": r["samples"] / r["trainSeconds"], "wallSeconds": time.time() - t_launch, "torch": torch.__version__,
              "threadsPerWorker": max(1, (os.cpu_count() or 1) // args.workers)})
    print(json.dumps(r))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
