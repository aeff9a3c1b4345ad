#!/usr/bin/env python
"""lamina vs PyTorch, side by side, on the workloads of bench/WORKLOADS.md.

    python bench/compare.py                 # every workload implemented here, full sample counts
    python bench/compare.py --quick         # fewer samples (a smoke run, well under two minutes)
    python bench/compare.py --only W1       # one workload (comma-separated list allowed)
    python bench/compare.py --smoke         # every workload once on small sizes, with its correctness
                                            # checks; no meaningful timing; exit code 1 if a check fails

Output follows WORKLOADS.md: one line per figure,
`<WID> <figure> fw=<engine> [key=value ...] <metric>=<median-based> lo=.. hi=.. n=..`, and `#` comment
lines: the machine state (`other_cpu_busy`) measured before each block, and the lamina/torch ratio
of every figure both engines ran. The engines are interleaved sample by sample, so drift in the
machine's speed hits both alike. torch is optional: without it only lamina's lines are printed.

A workload is a function `wN(ctx)` registered in WORKLOADS; it builds its inputs outside the timed
region, times callables with `ctx.sample_interleaved` and prints through `ctx.figure` /
`ctx.figure_time` / `ctx.ratio` / `ctx.ratio_best`. Implemented: W1 GEMM, W2 MLP training step,
W3 CNN training and inference, W4 batch-1 latency, W5 sklearn-digits fit, W6 peak memory.

Ratio lines compare lamina's best api with torch's best api (torch layout=nchw and
no_grad_tensor_in_out are informative only and left out); > 1 means lamina is ahead, except for
W6, where the ratio is of working sets (< 1 means lamina uses less memory). Before W2 and W3 an
untimed check compares lamina's logits, loss and one Adam update with a float64 torch twin that
has lamina's weights, and prints a `# WARNING` line on a mismatch. Every check prints its verdict,
`# check <WID> <what>: ok` or the `# WARNING` line; `--smoke` runs them all in seconds (no timing:
one sample per callable and no warmup, the smallest sizes, 2 epochs in W5, 1 step in W6) and exits with 1
when one fails (the test suite runs it).

Helper modes (a fresh process each; run by the workloads themselves):
    python bench/compare.py --w6-child lamina|torch   # W6: 20 CNN training steps, prints its RSS
                                                      # (peak = VmHWM: ru_maxrss survives fork+exec)
    python bench/compare.py --w5-first-fit            # W5: lamina's cold first digits fit
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
        self.smoke = args.smoke
        self.quick = args.quick or args.smoke
        self.failures = []  # the checks that failed, as printed
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

    # --- correctness checks ---
    def check(self, wid, what, problems, reference=None):
        """Prints a check's verdict: `# check WID what: ok`, or a `# WARNING` line listing the
        problems (then recorded in `failures`: `--smoke` exits with 1)."""
        if problems:
            line = f"# WARNING {wid} {what}: " + (f"lamina disagrees with {reference}: " if reference else "") + \
                "; ".join(problems)
            self.failures.append(line)
        else:
            line = f"# check {wid} {what}: ok"
        print(line, flush=True)
        return not problems

    # --- sampling ---
    def sample_interleaved(self, calls, warmup=3, samples=15, target_s=0.020, inner=None):
        """Seconds per call for each callable in `calls` (name -> fn), one list of samples each.

        Each fn gets `warmup` untimed calls; then the number of calls per sample is chosen so that a
        sample lasts about `target_s` (unless `inner` fixes it: then no sizing call is made); the
        samples of the engines alternate (in alternating order), so a slow phase of the machine lands
        on all of them. `warmup`, `samples` and `inner` may also be dicts name -> int, for callables
        that need different counts (a name whose samples are done drops out of the rotation).
        """
        def per(v, name):
            return v[name] if isinstance(v, dict) else v

        if self.smoke:  # each callable once: the code paths run, the figures mean nothing
            warmup, samples, inner = 0, 1, 1

        inner_n = {}
        for name, fn in calls.items():
            for _ in range(per(warmup, name)):
                fn()
            fixed = per(inner, name)
            if fixed is not None:
                inner_n[name] = max(1, int(fixed))
                continue
            # One timed call (two when it is very short) to size the inner loop.
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            if dt < target_s / 10:
                t0 = time.perf_counter()
                for _ in range(10):
                    fn()
                dt = (time.perf_counter() - t0) / 10
            inner_n[name] = max(1, int(round(target_s / max(dt, 1e-9))))
        result = {name: [] for name in calls}
        names = list(calls)
        perf = time.perf_counter
        rounds = max(per(samples, name) for name in names)
        for i in range(rounds):
            for name in (names if i % 2 == 0 else reversed(names)):
                if len(result[name]) >= per(samples, name):
                    continue
                fn, n = calls[name], inner_n[name]
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

    def figure_time(self, wid, figure, fw, keys, metric, seconds, scale=1.0, extra=None):
        """Prints one figure line where metric = seconds * scale (lower is better, e.g. us_per_call):
        the median sample gives the value, lo the fastest sample, hi the slowest. `extra` (dict) is
        appended after n= (e.g. the achieved gflops, from the median). Returns the value."""
        med = statistics.median(seconds)
        tail = "" if not extra else " " + self._keys(extra)
        print(f"{wid} {figure} fw={fw} {self._keys(keys)} {metric}={_fmt(med * scale)} "
              f"lo={_fmt(min(seconds) * scale)} hi={_fmt(max(seconds) * scale)} n={len(seconds)}{tail}",
              flush=True)
        return med * scale

    def ratio(self, wid, figure, keys, lamina_value, torch_value, note=""):
        if torch_value and torch_value > 0:
            print(f"# ratio lamina/torch {wid} {figure} {self._keys(keys)}: {lamina_value / torch_value:.2f}x"
                  f"{' ' + note if note else ''}", flush=True)

    def ratio_best(self, wid, figure, keys, values, higher_is_better=True, note=""):
        """The ratio line of lamina's best api against torch's best api. `values` maps (fw, api) ->
        metric; time metrics (higher_is_better=False) are compared as speeds (torch time / lamina
        time), so that > 1 always means lamina is ahead."""
        best = {}
        for (fw, api), v in values.items():
            if fw not in best or (v > best[fw][1] if higher_is_better else v < best[fw][1]):
                best[fw] = (api, v)
        if "lamina" not in best or "torch" not in best:
            return
        (la, lv), (ta, tv) = best["lamina"], best["torch"]
        k = dict(keys, lamina_api=la, torch_api=ta)
        if higher_is_better:
            self.ratio(wid, figure, k, lv, tv, note)
        elif lv > 0:
            self.ratio(wid, figure, k, 1.0 / lv, 1.0 / tv, note or "(as speeds: torch time / lamina time)")


def _fmt(v):
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"


# ------------------------------------------------------------------ W1 GEMM


def w1_gemm(ctx):
    """C = A @ B, float32, row-major; C preallocated where the API allows (torch out=)."""
    np, lamina, torch = ctx.np, ctx.lamina, ctx.torch
    samples = 5 if ctx.quick else 15
    shapes = [("gemm_square", s, s, s) for s in ((64,) if ctx.smoke else (64, 256, 1024, 2048))] + \
        [("gemm_skinny", 32, 784, 512)]
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
    problems = [] if err < 1e-4 else [f"lamina's result differs from the reference (max relative error {err:.3g})"]
    ctx.check("W1", f"{figure} {ctx._keys(keys)}", problems)


# ------------------------------------------------------------------ models shared by W2-W6
#
# Both engines build the same architectures; weights are each framework's default init under seed 0.

MLP_FLOP_TRAIN = 3.21e-3    # GFLOP per sample and full training step (WORKLOADS.md W2)
CNN_FLOP_FWD = 0.396        # GFLOP per sample, forward (W3)
CNN_FLOP_TRAIN = 17.85      # GFLOP per full training step at batch 16 (W3)
CNN_SHAPE = (250, 250, 3)
CNN_BATCH = 16


def _lamina_mlp(ctx, seed=0, compile=True):
    keras = ctx.lamina
    layers = keras.layers
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((784,)),
                              layers.Dense(512, activation="relu"),
                              layers.Dense(512, activation="relu"),
                              layers.Dense(10)])
    if compile:
        _lamina_compile(ctx, model)
    return model


def _lamina_cnn(ctx, seed=0, compile=True):
    keras = ctx.lamina
    layers = keras.layers
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(CNN_SHAPE),
                              layers.Conv2D(32, 5, strides=2, activation="relu"),
                              layers.Conv2D(32, 3, activation="relu"),
                              layers.MaxPooling2D(3),
                              layers.Conv2D(32, 3, activation="relu"),
                              layers.Conv2D(32, 3, activation="relu"),
                              layers.MaxPooling2D(3),
                              layers.Conv2D(32, 3, activation="relu"),
                              layers.Conv2D(32, 3, activation="relu"),
                              layers.MaxPooling2D(2),
                              layers.GlobalMaxPooling2D(),
                              layers.Dense(10)])
    if compile:
        _lamina_compile(ctx, model)
    return model


def _lamina_digits(keras, seed):
    layers = keras.layers
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8, 8, 1)),
                              layers.Conv2D(16, 3, activation="relu"),
                              layers.MaxPooling2D(2),
                              layers.Flatten(),
                              layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _lamina_compile(ctx, model):
    keras = ctx.lamina
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),  # Keras default epsilon 1e-7
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))


def _torch_mlp(torch, seed=0):
    nn = torch.nn
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def _torch_cnn(torch, seed=0, channels_last=True):
    nn = torch.nn
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 5, stride=2), nn.ReLU(),
        nn.Conv2d(32, 32, 3), nn.ReLU(),
        nn.MaxPool2d(3),
        nn.Conv2d(32, 32, 3), nn.ReLU(),
        nn.Conv2d(32, 32, 3), nn.ReLU(),
        nn.MaxPool2d(3),
        nn.Conv2d(32, 32, 3), nn.ReLU(),
        nn.Conv2d(32, 32, 3), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        nn.Linear(32, 10))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def _torch_digits(torch, seed):
    nn = torch.nn
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 3 * 3, 10))


def _torch_step(torch, model, opt, x_fn, y):
    """The canonical eager step; x_fn() builds the input (any layout conversion lands in the timed call)."""
    cross_entropy = torch.nn.functional.cross_entropy

    def step():
        opt.zero_grad(set_to_none=True)
        loss = cross_entropy(model(x_fn()), y)
        loss.backward()
        opt.step()
    return step


def _synthetic(np, n, shape):
    """WORKLOADS.md's synthetic data: uniform [0,1) float32 from default_rng(0), labels 0..9 (int64)."""
    rng = np.random.default_rng(0)
    x = rng.random((n,) + tuple(shape), dtype=np.float32)
    y = rng.integers(0, 10, size=n, dtype=np.int64)
    return x, y


def _check_vs_torch(ctx, wid, what, lmodel, tmodel, x_np, y_np, tx):
    """Untimed check that lamina computes the right thing (a wrong kernel must not look fast):
    lamina's initial weights are copied into a torch twin run in float64 (the reference: torch's own
    float32 conv gradients are off by ~0.4 % of max|g| here); logits are compared, then lamina's loss
    of one full training step, and every weight lamina updated against Keras's Adam update computed
    from the reference gradients. Prints a WARNING line on a mismatch. Leaves lmodel one step trained."""
    torch, np = ctx.torch, ctx.np
    ops = ctx.lamina.ops
    problems = []
    if torch is None:
        logits = ops.convert_to_numpy(lmodel(x_np, training=False))
        if not np.all(np.isfinite(logits)):
            problems.append("non-finite logits")
        loss = float(lmodel.train_on_batch(x_np, y_np))
        if not (np.isfinite(loss) and 0.5 < loss < 10):
            problems.append(f"initial loss {loss:.4g} (expected about ln 10 = 2.3)")
    else:
        def to_torch_layout(w):
            return w.T if w.ndim == 2 else (w.transpose(3, 2, 0, 1) if w.ndim == 4 else w)

        tmodel = tmodel.double()
        tx = tx.double()
        params = list(tmodel.parameters())
        lw = lmodel.get_weights()
        if len(params) != len(lw):
            problems.append(f"{len(lw)} lamina weights vs {len(params)} torch parameters")
        else:
            with torch.no_grad():
                for p, w in zip(params, lw):
                    p.copy_(torch.from_numpy(np.ascontiguousarray(to_torch_layout(w))))
            got = ops.convert_to_numpy(lmodel(x_np, training=False))
            with torch.no_grad():
                ref = tmodel(tx).numpy()
            err = float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
            if not err < 1e-4:
                problems.append(f"logits differ (max relative error {err:.3g})")
            loss_l = float(lmodel.train_on_batch(x_np, y_np))
            for p in params:
                p.grad = None
            loss_t = torch.nn.functional.cross_entropy(tmodel(tx), torch.from_numpy(y_np))
            loss_t.backward()
            if not abs(loss_l - loss_t.item()) <= 1e-4 * max(1.0, abs(loss_t.item())):
                problems.append(f"loss {loss_l:.6g} vs torch {loss_t.item():.6g}")
            # Keras's Adam (which lamina follows; torch's differs where |grad| is near epsilon):
            # first step w -= lr * sqrt(1 - b2) / (1 - b1) * m / (sqrt(v) + eps), m = (1 - b1) g,
            # v = (1 - b2) g^2; applied in float64 to torch's gradients.
            worst = 0.0
            for p, w0, w in zip(params, lw, lmodel.get_weights()):
                g = p.grad.double().numpy()
                upd = 1e-3 * (0.001 ** 0.5) / 0.1 * (0.1 * g) / (np.sqrt(0.001 * g * g) + 1e-7)
                want = to_torch_layout(w0).astype(np.float64) - upd
                worst = max(worst, float(np.max(np.abs(to_torch_layout(w) - want))))
            if not worst < 5e-5:
                problems.append(f"weights after one Adam step differ from Keras's update by up to {worst:.3g} "
                                f"(lr 1e-3)")
    return ctx.check(wid, what, problems, reference="torch" if torch is not None else "expectations")


# ------------------------------------------------------------------ W2 MLP training step


def w2_mlp_train(ctx):
    """Input(784) -> Dense(512, relu) -> Dense(512, relu) -> Dense(10); full training step."""
    np, lamina, torch = ctx.np, ctx.lamina, ctx.torch
    samples = 8 if ctx.quick else 30
    for b, nbatches in ((32, 2),) if ctx.smoke else ((32, 64), (256, 16)):
        x, y = _synthetic(np, b * nbatches, (784,))
        xb, yb = x[:b], y[:b]

        m_check = _lamina_mlp(ctx)
        if torch is not None:
            _check_vs_torch(ctx, "W2", f"mlp b={b}", m_check, _torch_mlp(torch), xb, yb, torch.from_numpy(xb))
        else:
            _check_vs_torch(ctx, "W2", f"mlp b={b}", m_check, None, xb, yb, None)

        m_fit, m_tob = _lamina_mlp(ctx), _lamina_mlp(ctx)
        calls = {
            ("lamina", "fit"): lambda: m_fit.fit(x, y, batch_size=b, epochs=1, shuffle=False, verbose=0),
            ("lamina", "train_on_batch"): lambda: m_tob.train_on_batch(xb, yb),
        }
        steps_per_call = {("lamina", "fit"): nbatches}
        warmup = {("lamina", "fit"): 1}  # one fit call = nbatches (>= 10) steps
        inner = {("lamina", "fit"): 1}
        if torch is not None:
            tx, ty = torch.from_numpy(xb), torch.from_numpy(yb)
            for api, fused in (("eager", False), ("eager_fusedadam", True)):
                tm = _torch_mlp(torch)
                opt = torch.optim.Adam(tm.parameters(), lr=1e-3, fused=fused) if fused else \
                    torch.optim.Adam(tm.parameters(), lr=1e-3)
                calls[("torch", api)] = _torch_step(torch, tm, opt, lambda: tx, ty)
        for k in calls:
            warmup.setdefault(k, 10)
            inner.setdefault(k, None)
            steps_per_call.setdefault(k, 1)

        ctx.block(f"W2 mlp_train b={b}")
        times = ctx.sample_interleaved(calls, warmup=warmup, samples=samples, inner=inner)
        values = {}
        for (fw, api), secs in times.items():
            per_step = [s / steps_per_call[(fw, api)] for s in secs]
            keys = {"api": api, "b": b}
            values[(fw, api)] = ctx.figure("W2", "mlp_train", fw, keys, "samples_per_s", per_step, b)
            med = statistics.median(per_step)
            ctx.figure_time("W2", "mlp_train_step", fw, keys, "us_per_step", per_step, 1e6,
                            {"gflops": _fmt(MLP_FLOP_TRAIN * b / med)})
        ctx.ratio_best("W2", "mlp_train", {"b": b}, values)


# ------------------------------------------------------------------ W3 CNN training and inference


def w3_cnn(ctx):
    """The Keras guide's Sequential CNN on (250, 250, 3) NHWC, batch 16: training step and inference."""
    np, lamina, torch = ctx.np, ctx.lamina, ctx.torch
    q = ctx.quick
    nb = 1 if ctx.smoke else 4
    x64, y64 = _synthetic(np, nb * CNN_BATCH, CNN_SHAPE)  # fit / predict arrays: 4 batches
    x, y = x64[:CNN_BATCH], y64[:CNN_BATCH]
    convert_to_numpy = lamina.ops.convert_to_numpy

    torch_models = {}
    if torch is not None:
        x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # informative layout, copied untimed
        ty = torch.from_numpy(y)
        torch_inputs = {"nhwc": lambda: torch.from_numpy(x).permute(0, 3, 1, 2),  # channels_last view
                        "nchw": lambda: torch.from_numpy(x_nchw)}
    # The correctness check on 4 samples (the float64 reference is slow).
    xc, yc = x[:4], y[:4]
    if torch is not None:
        _check_vs_torch(ctx, "W3", "cnn", _lamina_cnn(ctx), _torch_cnn(torch), xc, yc,
                        torch.from_numpy(xc).permute(0, 3, 1, 2))
    else:
        _check_vs_torch(ctx, "W3", "cnn", _lamina_cnn(ctx), None, xc, yc, None)

    # --- training ---
    m_fit, m_tob = _lamina_cnn(ctx), _lamina_cnn(ctx)
    calls = {("lamina", "fit", "nhwc"): lambda: m_fit.fit(x64, y64, batch_size=CNN_BATCH, epochs=1,
                                                         shuffle=False, verbose=0),
             ("lamina", "train_on_batch", "nhwc"): lambda: m_tob.train_on_batch(x, y)}
    steps_per_call = {("lamina", "fit", "nhwc"): nb}
    warmup = {("lamina", "fit", "nhwc"): 1}
    samples = {("lamina", "fit", "nhwc"): 1 if q else 3}
    if torch is not None:
        for layout in ("nhwc", "nchw"):
            tm = _torch_cnn(torch, channels_last=(layout == "nhwc"))
            opt = torch.optim.Adam(tm.parameters(), lr=1e-3)
            calls[("torch", "eager", layout)] = _torch_step(torch, tm, opt, torch_inputs[layout], ty)
            torch_models[layout] = tm
    for k in calls:
        warmup.setdefault(k, 3)
        samples.setdefault(k, 3 if q else 10)
        steps_per_call.setdefault(k, 1)

    ctx.block(f"W3 cnn_train b={CNN_BATCH}")
    times = ctx.sample_interleaved(calls, warmup=warmup, samples=samples, inner=1)
    values = {}
    for (fw, api, layout), secs in times.items():
        per_step = [s / steps_per_call[(fw, api, layout)] for s in secs]
        keys = {"api": api, "layout": layout, "b": CNN_BATCH}
        v = ctx.figure("W3", "cnn_train", fw, keys, "samples_per_s", per_step, CNN_BATCH)
        if layout == "nhwc":
            values[(fw, api)] = v
        ctx.figure_time("W3", "cnn_train_step", fw, keys, "ms_per_step", per_step, 1e3,
                        {"gflops": _fmt(CNN_FLOP_TRAIN / statistics.median(per_step))})
    ctx.ratio_best("W3", "cnn_train", {"layout": "nhwc", "b": CNN_BATCH}, values)

    # --- inference (forward only, no gradient tape); models as left by training ---
    def direct_call():
        return convert_to_numpy(m_tob(x, training=False))

    calls = {("lamina", "predict", "nhwc"): lambda: m_tob.predict(x64, batch_size=CNN_BATCH, verbose=0),
             ("lamina", "direct_call", "nhwc"): direct_call}
    steps_per_call = {("lamina", "predict", "nhwc"): nb}
    warmup = {("lamina", "predict", "nhwc"): 1}
    samples = {("lamina", "predict", "nhwc"): 1 if q else 3}
    if torch is not None:
        def torch_infer(model, x_fn):
            def call():
                with torch.no_grad():
                    return model(x_fn())
            return call
        for layout, tm in torch_models.items():
            calls[("torch", "no_grad", layout)] = torch_infer(tm, torch_inputs[layout])
    for k in calls:
        warmup.setdefault(k, 3)
        samples.setdefault(k, 3 if q else 10)
        steps_per_call.setdefault(k, 1)

    ctx.block(f"W3 cnn_infer b={CNN_BATCH}")
    times = ctx.sample_interleaved(calls, warmup=warmup, samples=samples, inner=1)
    values = {}
    for (fw, api, layout), secs in times.items():
        per_batch = [s / steps_per_call[(fw, api, layout)] for s in secs]
        keys = {"api": api, "layout": layout, "b": CNN_BATCH}
        v = ctx.figure("W3", "cnn_infer", fw, keys, "samples_per_s", per_batch, CNN_BATCH)
        if layout == "nhwc":
            values[(fw, api)] = v
        ctx.figure_time("W3", "cnn_infer_step", fw, keys, "ms_per_batch", per_batch, 1e3,
                        {"gflops": _fmt(CNN_FLOP_FWD * CNN_BATCH / statistics.median(per_batch))})
    ctx.ratio_best("W3", "cnn_infer", {"layout": "nhwc", "b": CNN_BATCH}, values)


# ------------------------------------------------------------------ W4 batch-1 latency


def w4_latency(ctx):
    """Batch-1 inference from Python, numpy in -> numpy out, one call per sample."""
    np, lamina, torch = ctx.np, ctx.lamina, ctx.torch
    q = ctx.quick
    convert_to_numpy = lamina.ops.convert_to_numpy
    rng = np.random.default_rng(0)
    for figure, shape, n, n_predict, warm in (("mlp_latency", (784,), 300, 40, 20),
                                              ("cnn_latency", CNN_SHAPE, 60, 30, 10)):
        if q:
            n, n_predict = (50, 40) if figure == "mlp_latency" else (15, 15)
        x1 = rng.random((1,) + shape, dtype=np.float32)
        lm = _lamina_mlp(ctx, compile=False) if figure == "mlp_latency" else _lamina_cnn(ctx, compile=False)
        calls = {("lamina", "direct_call"): lambda: convert_to_numpy(lm(x1, training=False)),
                 ("lamina", "predict_on_batch"): lambda: lm.predict_on_batch(x1),
                 ("lamina", "predict"): lambda: lm.predict(x1, verbose=0)}
        if torch is not None:
            if figure == "mlp_latency":
                tm = _torch_mlp(torch).eval()

                def tin(a):
                    return torch.from_numpy(a)
            else:
                tm = _torch_cnn(torch).eval()

                def tin(a):
                    return torch.from_numpy(a).permute(0, 3, 1, 2)

            def no_grad():
                with torch.no_grad():
                    return tm(tin(x1)).numpy()

            def inference_mode():
                with torch.inference_mode():
                    return tm(tin(x1)).numpy()
            calls[("torch", "no_grad")] = no_grad
            calls[("torch", "inference_mode")] = inference_mode
            if figure == "mlp_latency":
                xt = torch.from_numpy(x1)

                def tensor_in_out():
                    with torch.no_grad():
                        return tm(xt)
                calls[("torch", "no_grad_tensor_in_out")] = tensor_in_out
            # The same answer from both (weights differ: compare shapes and finiteness only).
            got, ref = calls[("lamina", "direct_call")](), no_grad()
            ok = got.shape == ref.shape and np.all(np.isfinite(got))
            ctx.check("W4", figure, [] if ok else [f"lamina returned shape {got.shape}, torch {ref.shape}"])
        samples = {k: (n_predict if k[1] == "predict" else n) for k in calls}

        ctx.block(f"W4 {figure} b=1")
        times = ctx.sample_interleaved(calls, warmup=warm, samples=samples, inner=1)
        values = {}
        for (fw, api), secs in times.items():
            v = ctx.figure_time("W4", figure, fw, {"api": api, "b": 1}, "us_per_call", secs, 1e6)
            if api != "no_grad_tensor_in_out":  # the comparison is numpy in -> numpy out
                values[(fw, api)] = v
        ctx.ratio_best("W4", figure, {"b": 1}, values, higher_is_better=False)


# ------------------------------------------------------------------ W5 digits CNN fit


def _digits(np):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[..., None]  # (N, 8, 8, 1) NHWC in [0, 1]
    y = d.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.25, random_state=0)


def _lamina_digits_fit(keras, data, seed, epochs=10):
    """(fit seconds, test accuracy) of one freshly built model trained by W5's recipe."""
    xtr, xte, ytr, yte = data
    model = _lamina_digits(keras, seed)
    t0 = time.perf_counter()
    model.fit(xtr, ytr, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    dt = time.perf_counter() - t0
    acc = float((model.predict(xte, verbose=0).argmax(-1) == yte).mean())
    return dt, acc


def _torch_digits_fit(torch, data, seed, epochs=10):
    """The hand-written torch loop: 10 epochs, batch 32 (last partial batch kept), reshuffled each epoch."""
    xtr, xte, ytr, yte = data
    model = _torch_digits(torch, seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    cross_entropy = torch.nn.functional.cross_entropy
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    xt = torch.from_numpy(xtr).permute(0, 3, 1, 2)  # NHWC in; conversion inside the timed fit
    yt = torch.from_numpy(ytr)
    n = xt.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, 32):
            idx = perm[i:i + 32]
            opt.zero_grad(set_to_none=True)
            loss = cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    dt = time.perf_counter() - t0
    with torch.no_grad():
        pred = model(torch.from_numpy(xte).permute(0, 3, 1, 2)).argmax(1).numpy()
    return dt, float((pred == yte).mean())


def _first_fit_child(args):
    """`compare.py --w5-first-fit`: a fresh process imports lamina and times its first digits fit
    (WORKLOADS.md's throwaway fit, cold: the lazy init of the import included)."""
    import numpy as np
    import lamina
    lamina.set_num_threads(args.threads)
    data = _digits(np)
    dt, acc = _lamina_digits_fit(lamina, data, 1234)
    print(f"first_fit_s={dt:.6f} acc={acc:.6f}", flush=True)
    return 0


def _run_child(ctx, mode, engine=None, extra=()):
    """Runs compare.py itself in a helper mode in a fresh process; returns its last line's key=values
    (None, with a failed check, when it fails)."""
    import subprocess
    args = ctx.args
    cmd = [sys.executable, os.path.abspath(__file__), mode] + ([engine] if engine else []) + \
          ["--threads", str(args.threads)] + list(extra)
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    lines = [l for l in r.stdout.splitlines() if "=" in l]
    if r.returncode != 0 or not lines:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        ctx.check("child", " ".join(cmd[2:]), [f"failed (rc={r.returncode}): {' | '.join(tail)}"])
        return None
    return dict(kv.split("=", 1) for kv in lines[-1].split())


def w5_digits(ctx):
    """sklearn digits, Conv2D(16,3) -> MaxPool(2) -> Flatten -> Dense(10), 10 epochs, batch 32."""
    np, lamina, torch = ctx.np, ctx.lamina, ctx.torch
    try:
        data = _digits(np)
    except ImportError:
        print("# W5 skipped: scikit-learn is not installed", flush=True)
        return
    seeds = [0] if ctx.quick else [0, 1, 2]
    epochs = 2 if ctx.smoke else 10
    runs = {"lamina": lambda s: _lamina_digits_fit(lamina, data, s, epochs)}
    if torch is not None:
        runs["torch"] = lambda s: _torch_digits_fit(torch, data, s, epochs)

    ctx.block("W5 digits_cnn_fit")
    # The cold figure in a fresh process (this one may have run other workloads already).
    first = _run_child(ctx, "--w5-first-fit")
    # The throwaway fits (untimed for the figure), then the seeds, engines alternating.
    for fw in runs if not ctx.smoke else ():
        runs[fw](99)
    results = {fw: [] for fw in runs}
    names = list(runs)
    for i, seed in enumerate(seeds):
        for fw in (names if i % 2 == 0 else reversed(names)):
            results[fw].append(runs[fw](seed))
    values = {}
    for fw, res in results.items():
        secs = [r[0] for r in res]
        accs = [r[1] for r in res]
        extra = {"test_acc": f"{statistics.mean(accs):.4f}", "acc_seed0": f"{accs[0]:.4f}",
                 "acc_min": f"{min(accs):.4f}"}
        if fw == "lamina":
            extra["first_fit_in_process_s"] = f"{float(first['first_fit_s']):.3f}" if first else "nan"
        api = "fit" if fw == "lamina" else "eager"
        values[(fw, api)] = ctx.figure_time("W5", "digits_cnn_fit", fw, {"api": api, "b": 32, "epochs": epochs},
                                            "fit_s", secs, 1.0, extra)
    ctx.ratio_best("W5", "digits_cnn_fit", {"b": 32, "epochs": epochs}, values, higher_is_better=False)


# ------------------------------------------------------------------ W6 peak memory of W3 training

W6_STEPS = 20


def _proc_status_mib(field):
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _peak_rss_mib():
    """This process's peak RSS. WORKLOADS.md names getrusage's ru_maxrss, but on Linux ru_maxrss
    survives fork + exec: a child of a big parent (this harness holds ~1.2 GB after W3) reports the
    parent's peak. VmHWM is the peak of the process's own address space, which is what ru_maxrss
    gives in a process that was not forked from a larger one."""
    hwm = _proc_status_mib("VmHWM")
    if hwm == hwm:  # not NaN
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _w6_child(args):
    """`compare.py --w6-child ENGINE [--w6-steps N]`: a fresh process builds the W3 CNN and runs N
    (default W6_STEPS) full training steps at batch 16 on one synthetic batch, then prints its RSS
    figures."""
    engine = args.w6_child
    steps = args.w6_steps
    import numpy as np
    if engine == "lamina":
        import lamina
        lamina.set_num_threads(args.threads)
    else:
        import torch
        torch.set_num_threads(args.threads)
    rss_import = _proc_status_mib("VmRSS")
    x, y = _synthetic(np, CNN_BATCH, CNN_SHAPE)
    t0 = time.perf_counter()
    if engine == "lamina":
        class _Ctx:  # the model builders only need .lamina
            pass
        c = _Ctx()
        c.lamina = lamina
        model = _lamina_cnn(c)
        for _ in range(steps):
            model.train_on_batch(x, y)
    else:
        model = _torch_cnn(torch, channels_last=True)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        step = _torch_step(torch, model, opt, lambda: torch.from_numpy(x).permute(0, 3, 1, 2),
                           torch.from_numpy(y))
        for _ in range(steps):
            step()
    dt = time.perf_counter() - t0
    max_rss = _peak_rss_mib()
    print(f"max_rss_mib={max_rss:.1f} rss_after_import_mib={rss_import:.1f} seconds={dt:.2f}", flush=True)
    return 0


def w6_memory(ctx):
    """Peak RSS of W3 training (20 steps, batch 16), each engine in a fresh process. --quick runs the
    same 20 steps: lamina's peak still grows after the first steps (311 MiB after 2, 348 after 5,
    528 after 20 here), so fewer steps would not measure the same thing."""
    steps = 1 if ctx.smoke else W6_STEPS
    ctx.block(f"W6 cnn_train_memory b={CNN_BATCH} steps={steps}")
    values = {}
    for fw, api in (("lamina", "train_on_batch"), ("torch", "eager")):
        if fw not in ctx.engines:
            continue
        r = _run_child(ctx, "--w6-child", fw, ["--w6-steps", str(steps)])
        if r is None:
            continue
        peak, base = float(r["max_rss_mib"]), float(r["rss_after_import_mib"])
        values[fw] = peak - base
        extra = "" if fw == "lamina" else " layout=nhwc"
        print(f"W6 cnn_train_memory fw={fw} api={api}{extra} b={CNN_BATCH} steps={steps} "
              f"max_rss_mib={peak:.1f} rss_after_import_mib={base:.1f} working_set_mib={peak - base:.1f} "
              f"n=1 seconds={r.get('seconds', 'nan')}", flush=True)
    if "lamina" in values and "torch" in values:
        ctx.ratio("W6", "cnn_train_memory", {"b": CNN_BATCH, "metric": "working_set_mib"}, values["lamina"],
                  values["torch"], "(memory: < 1 means lamina uses less)")


# ------------------------------------------------------------------ driver

# Workload id -> function(ctx).
WORKLOADS = {
    "W1": w1_gemm,
    "W2": w2_mlp_train,
    "W3": w3_cnn,
    "W4": w4_latency,
    "W5": w5_digits,
    "W6": w6_memory,
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer samples (WORKLOADS.md's --quick counts)")
    p.add_argument("--smoke", action="store_true",
                   help="every workload once on small sizes with its correctness checks (no meaningful "
                        "timing); exit code 1 if a check fails")
    p.add_argument("--only", default="", help="comma-separated workload ids, e.g. W1 (default: all)")
    p.add_argument("--threads", type=int, default=2, help="threads for both engines (default 2)")
    p.add_argument("--no-torch", action="store_true", help="run lamina only")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                   help="before each block, wait up to S seconds for other_cpu_busy <= 10%%")
    # Helper modes (run by W5 / W6 in a fresh process of their own).
    p.add_argument("--w6-child", choices=["lamina", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--w6-steps", type=int, default=W6_STEPS, help=argparse.SUPPRESS)
    p.add_argument("--w5-first-fit", action="store_true", help=argparse.SUPPRESS)
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

    if args.w6_child:
        return _w6_child(args)
    if args.w5_first_fit:
        return _first_fit_child(args)

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
          f"{', smoke' if args.smoke else ', quick' if args.quick else ''}")
    print(f"# lamina {lamina.__version__} threads={lamina.get_num_threads()}; "
          + (f"torch {torch.__version__} threads={torch.get_num_threads()}" if torch is not None
             else "torch not available: lamina only"), flush=True)

    t0 = time.perf_counter()
    ctx = Context(args, lamina, torch, np)
    for wid in args.workloads:
        tw = time.perf_counter()
        WORKLOADS[wid](ctx)
        print(f"# {wid} took {time.perf_counter() - tw:.1f} s", flush=True)
    print(f"# done in {time.perf_counter() - t0:.1f} s", flush=True)
    if args.smoke and ctx.failures:
        print(f"# smoke run: {len(ctx.failures)} check(s) failed", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
