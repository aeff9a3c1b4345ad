"""Loads corpus files under a memory limit and prints one line per file (tests/test_corpus.py).

    python corpus_worker.py TASKS.json MEMORY_BYTES

TASKS.json holds the corpus entries (tests/saving/hostile_corpus.py) plus `sources`: for each
source name, the valid `.keras` file its damaged copies came from. Before each file the worker
prints `S <index>`, after it `R <json>` with the outcome:

- `loaded_same` / `loaded_changed`: a model came back, and its predictions on a fixed input equal
  (or not) those of the valid source (a flipped byte in a weight legitimately changes them);
- `ValueError`, or the name of any other exception (which the test refuses), with the message.

A signal, a hang or an out-of-memory kill shows as an `S` line without its `R` line.
"""
import json
import os
import resource
import sys
import time
import warnings

import numpy as np


def _limit_memory(nbytes):
    """RLIMIT_AS, except under AddressSanitizer (its shadow memory reserves terabytes of address
    space; there its own allocator limits apply instead)."""
    if "asan" in os.environ.get("LD_PRELOAD", "") or "ASAN_OPTIONS" in os.environ:
        return False
    resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))
    return True


def _inputs(model):
    """A fixed input for `model`: from its symbolic inputs, or (a subclassed model) the shape it
    was built for."""
    try:
        shapes = [tuple(1 if d is None else d for d in t.shape) for t in model.inputs]
    except (AttributeError, TypeError, ValueError):
        shapes = [tuple(1 if d is None else d for d in model.get_build_config()["input_shape"])]
    data = [np.linspace(-1, 1, int(np.prod(s)), dtype="float32").reshape(s) for s in shapes]
    return data if len(data) > 1 else data[0]


def _predict(model, x):
    out = model(x)
    out = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o) for o in out]


def main():
    tasks = json.load(open(sys.argv[1]))
    limited = _limit_memory(int(sys.argv[2]))
    warnings.simplefilter("ignore")
    import lamina as keras
    import fixture_classes  # noqa: F401  (registers the subclassed fixture's classes; next to this file)
    reference = {}

    def source(name):
        if name not in reference:
            model = keras.saving.load_model(tasks["sources"][name])
            x = _inputs(model)
            reference[name] = (model, x, _predict(model, x))
        return reference[name]

    for entry in tasks["entries"]:
        print("S", entry["index"], flush=True)
        start = time.perf_counter()
        result = {"index": entry["index"]}
        try:
            if entry["mode"] == "weights":
                model = keras.saving.load_model(tasks["sources"][entry["source"]])
                model.load_weights(entry["file"])
            else:
                model = keras.saving.load_model(entry["file"])
            _, x, expected = source(entry["source"])
            try:
                got = _predict(model, x)
                same = len(got) == len(expected) and all(
                    g.shape == e.shape and np.array_equal(g, e, equal_nan=True) for g, e in zip(got, expected))
            except ValueError:
                same = False  # a model of another shape than its source's
            result["outcome"] = "loaded_same" if same else "loaded_changed"
        except ValueError as e:
            result["outcome"], result["message"] = "ValueError", str(e)[:300]
        except BaseException as e:  # noqa: B902 - reported to the test, which refuses it
            result["outcome"], result["message"] = type(e).__name__, str(e)[:300]
        result["seconds"] = round(time.perf_counter() - start, 4)
        print("R", json.dumps(result), flush=True)
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    print("P", json.dumps({"memory_limited": limited, "vm_peak": status.get("VmPeak", "").strip(),
                           "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)


if __name__ == "__main__":
    main()
