#!/usr/bin/env python
"""lamina vs PyTorch, side by side, on the workloads of bench/WORKLOADS.md.

    python bench/compare.py                 # every workload implemented here, full sample counts
    python bench/compare.py --quick         # fewer samples (a smoke run, well under two minutes)
    python bench/compare.py --only W1       # one workload (comma-separated list allowed)

Output follows WORKLOADS.md: one line per figure,
`<WID> <figure> fw=<engine> [key=value ...] <metric>=<median-based> lo=.. hi=.. n=..`, and `#` comment
lines: the machine state (`other_cpu_busy`) measured before each block, and the lamina/torch ratio
of every figure both engines ran. The engines are interleaved sample by sample, so drift in the
machine's speed hits both alike. torch is optional: without it only lamina's lines are printed.

A workload is a function `wN(ctx)` registered in WORKLOADS; it builds its inputs outside the timed
region, times callables with `ctx.sample_interleaved` and prints through `ctx.figure` / `ctx.ratio`.
"""
import argparse
import os
import platform
import resource
import statistics
import sys
import time

# ------------------------------------------------------------------ machine state


def _proc_stat_cpu():
    """(busy, total) jiffies of all CPUs together, from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
    fields = fields[:8]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields)
    return total - idle, total


def _own_cpu_seconds():
    """CPU seconds used by this process so far (all its threads, user + system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def other_cpu_busy(interval=0.2):
    """Share of all CPUs used by other processes over `interval` seconds, in [0, 1].

    Total busy time from /proc/stat minus this process's own CPU time (our OpenMP threads may still
    spin for a moment after a block), divided by the interval times the number of CPUs.
    """
    try:
        busy0, total0 = _proc_stat_cpu()
    except OSError:
        return float("nan")
    own0, t0 = _own_cpu_seconds(), time.perf_counter()
    time.sleep(interval)
    busy1, total1 = _proc_stat_cpu()
    own1, t1 = _own_cpu_seconds(), time.perf_counter()
    if total1 <= total0:
        return float("nan")
    # Jiffies -> seconds through the measured total (robust to the tick rate).
    ncpu = os.cpu_count() or 1
    cpu_seconds_total = (t1 - t0) * ncpu
    busy_s = (busy1 - busy0) / (total1 - total0) * cpu_seconds_total
    other = (busy_s - (own1 - own0)) / cpu_seconds_total
    return min(1.0, max(0.0, other))


# ------------------------------------------------------------------ timing and reporting

BUSY_LIMIT = 0.10  # WORKLOADS.md: figures above this are not comparable


class Context:
    """What every workload gets: options, the engines, the sampler and the printer."""

    def __init__(self, args, lamina, torch, np):
        self.args = args
        self.quick = args.quick
        self.lamina = lamina
        self.torch = torch  # None when not importable (or --fw excludes it)
        self.np = np
        self.engines = ["lamina"] + (["torch"] if torch is not None else [])

    # --- machine state ---
    def block(self, title):
        """Measures other_cpu_busy before a block (waiting for a quiet machine if asked) and prints it."""
        deadline = time.perf_counter() + self.args.wait_quiet
        busy = other_cpu_busy()
        while busy > BUSY_LIMIT and time.perf_counter() < deadline:
            time.sleep(1.0)
            busy = other_cpu_busy()
        note = "" if busy <= BUSY_LIMIT else " (> 10 %: not comparable)"
        print(f"# {title}: other_cpu_busy={busy * 100:.1f}%{note}", flush=True)
        return busy

    # --- sampling ---
    def sample_interleaved(self, calls, warmup=3, samples=15, target_s=0.020):
        """Seconds per call for each callable in `calls` (name -> fn), one list of samples each.

        Each fn gets `warmup` untimed calls; then the number of calls per sample is chosen so that a
        sample lasts about `target_s`; the samples of the engines alternate (in alternating order),
        so a slow phase of the machine lands on all of them.
        """
        inner = {}
        for name, fn in calls.items():
            for _ in range(warmup):
                fn()
            # One timed call (two when it is very short) to size the inner loop.
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            if dt < target_s / 10:
                t0 = time.perf_counter()
                for _ in range(10):
                    fn()
                dt = (time.perf_counter() - t0) / 10
            inner[name] = max(1, int(round(target_s / max(dt, 1e-9))))
        result = {name: [] for name in calls}
        names = list(calls)
        perf = time.perf_counter
        for i in range(samples):
            for name in (names if i % 2 == 0 else reversed(names)):
                fn, n = calls[name], inner[name]
                t0 = perf()
                for _ in range(n):
                    fn()
                result[name].append((perf() - t0) / n)
        return result

    # --- printing ---
    @staticmethod
    def _keys(keys):
        return " ".join(f"{k}={v}" for k, v in keys.items())

    def figure(self, wid, figure, fw, keys, metric, seconds, work):
        """Prints one figure line where metric = work / seconds (higher is better): the median
        sample gives the value, the slowest and fastest samples give lo and hi. Returns the value."""
        med = statistics.median(seconds)
        value, lo, hi = work / med, work / max(seconds), work / min(seconds)
        print(f"{wid} {figure} fw={fw} {self._keys(keys)} {metric}={_fmt(value)} "
              f"lo={_fmt(lo)} hi={_fmt(hi)} n={len(seconds)}", flush=True)
        return value

    def ratio(self, wid, figure, keys, lamina_value, torch_value):
        if torch_value and torch_value > 0:
            print(f"# ratio lamina/torch {wid} {figure} {self._keys(keys)}: {lamina_value / torch_value:.2f}x",
                  flush=True)


def _fmt(v):
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"


# ------------------------------------------------------------------ W1 GEMM


def w1_gemm(ctx):
    """C = A @ B, float32, row-major; C preallocated where the API allows (torch out=)."""
    np, lamina, torch = ctx.np, ctx.lamina, ctx.torch
    samples = 5 if ctx.quick else 15
    shapes = [("gemm_square", s, s, s) for s in (64, 256, 1024, 2048)] + [("gemm_skinny", 32, 784, 512)]
    rng = np.random.default_rng(0)
    for figure, m, k, n in shapes:
        a_np = rng.random((m, k), dtype=np.float32)
        b_np = rng.random((k, n), dtype=np.float32)
        keys = {"m": m, "k": k, "n": n}
        flops = 2.0 * m * n * k / 1e9  # GFLOP per call -> gflops = GFLOP / seconds

        # Inputs converted once, outside the timed region.
        la, lb = lamina.ops.convert_to_tensor(a_np), lamina.ops.convert_to_tensor(b_np)
        matmul = lamina.ops.matmul
        calls = {"lamina": lambda: matmul(la, lb)}
        if torch is not None:
            ta, tb = torch.from_numpy(a_np), torch.from_numpy(b_np)
            tc = torch.empty((m, n), dtype=torch.float32)
            calls["torch"] = lambda: torch.matmul(ta, tb, out=tc)

        _check_w1(ctx, la, lb, a_np, b_np, calls, figure, keys)
        ctx.block(f"W1 {figure} {ctx._keys(keys)}")
        times = ctx.sample_interleaved(calls, warmup=3, samples=samples, target_s=0.020)
        values = {fw: ctx.figure("W1", figure, fw, keys, "gflops", times[fw], flops) for fw in calls}
        if "torch" in values:
            ctx.ratio("W1", figure, keys, values["lamina"], values["torch"])


def _check_w1(ctx, la, lb, a_np, b_np, calls, figure, keys):
    """One untimed product compared against torch (or NumPy): a wrong kernel must not look fast."""
    np = ctx.np
    got = ctx.lamina.ops.convert_to_numpy(ctx.lamina.ops.matmul(la, lb))
    if "torch" in calls:
        ref = calls["torch"]().numpy()
    else:
        ref = a_np.astype(np.float64) @ b_np.astype(np.float64)
    err = float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
    if not err < 1e-4:
        print(f"# WARNING W1 {figure} {ctx._keys(keys)}: lamina's result differs from the reference "
              f"(max relative error {err:.3g})", flush=True)


# ------------------------------------------------------------------ driver

# Workload id -> function(ctx). W2-W6 go here as they are implemented.
WORKLOADS = {
    "W1": w1_gemm,
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer samples (WORKLOADS.md's --quick counts)")
    p.add_argument("--only", default="", help="comma-separated workload ids, e.g. W1 (default: all)")
    p.add_argument("--threads", type=int, default=2, help="threads for both engines (default 2)")
    p.add_argument("--no-torch", action="store_true", help="run lamina only")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                   help="before each block, wait up to S seconds for other_cpu_busy <= 10%%")
    args = p.parse_args(argv)
    only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in only if w not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)}; available: {', '.join(WORKLOADS)}")
    args.workloads = only or list(WORKLOADS)
    if args.threads < 1:
        p.error("--threads must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    # WORKLOADS.md's thread rule, set before any BLAS / OpenMP runtime is loaded.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np
    import lamina

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch = None
    lamina.set_num_threads(args.threads)  # lamina keeps its own count: torch's setting does not reach it
    if torch is not None:
        torch.set_num_threads(args.threads)

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    print(f"# lamina compare: {time.strftime('%Y-%m-%d %H:%M:%S')} {cpu}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, numpy {np.__version__}"
          f"{', quick' if args.quick else ''}")
    print(f"# lamina {lamina.__version__} threads={lamina.get_num_threads()}; "
          + (f"torch {torch.__version__} threads={torch.get_num_threads()}" if torch is not None
             else "torch not available: lamina only"), flush=True)

    t0 = time.perf_counter()
    ctx = Context(args, lamina, torch, np)
    for wid in args.workloads:
        WORKLOADS[wid](ctx)
    print(f"# done in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
