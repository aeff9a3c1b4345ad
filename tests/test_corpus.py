"""The corpus net (issue 12): hundreds of damaged and hostile model files, generated from the
project's valid ones by tests/saving/hostile_corpus.py, each loaded in a subprocess under a memory
and a time limit (tests/saving/corpus_worker.py, a few workers loading batches).

The outcome of every file must be a clean `ValueError` (what Keras 3 raises for an invalid
`.keras` or weights file, and what lamina's loaders promise) or a model; never another exception,
a MemoryError, a signal, a hang or an out-of-memory kill. The valid sources must load with their
own predictions, and no code-carrying file may load. A worker that dies or stops answering has the
file it was loading attributed (its `S` line without an `R` line) and the rest of its batch rerun
in a new worker.
"""
import collections
import json
import os
import selectors
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "saving"))
import hostile_corpus  # noqa: E402

WORKER = os.path.join(HERE, "saving", "corpus_worker.py")
WORKERS = 2
MEMORY_LIMIT_BYTES = 1 << 30   # RLIMIT_AS per worker; a normal load of every valid source peaks at ~165 MB
FILE_TIMEOUT_S = 60            # per file (the slowest takes ~0.2 s alone; generous for a loaded CI machine)
ALLOWED = {"ValueError", "loaded_same", "loaded_changed"}


def _run_worker(tasks_path, entries, sources, results):
    """Loads `entries` in one worker; returns the entries it did not reach (after a crash or a
    hang, the one it was on is recorded as "signal N" / "hang" / "exit N")."""
    with open(tasks_path, "w") as f:
        json.dump({"entries": entries, "sources": sources}, f)
    err_path = tasks_path + ".stderr"
    with open(err_path, "wb") as err:  # a file, not a pipe: a chatty worker can never block on it
        proc = subprocess.Popen([sys.executable, WORKER, tasks_path, str(MEMORY_LIMIT_BYTES)],
                                stdout=subprocess.PIPE, stderr=err, env={**os.environ, "OMP_NUM_THREADS": "1"})
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    current, done, hung = None, set(), False
    pending = b""  # raw reads, split into lines here: a buffered reader would hide lines from select()
    while True:
        if b"\n" not in pending:
            if not selector.select(timeout=FILE_TIMEOUT_S):
                hung = True
                proc.kill()
                break
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            pending += chunk
            continue
        line, pending = pending.split(b"\n", 1)
        kind, _, payload = line.decode().partition(" ")
        if kind == "S":
            current = int(payload)
        elif kind == "R":
            result = json.loads(payload)
            results[result["index"]] = result
            done.add(result["index"])
            current = None
    proc.wait()
    proc.stdout.close()
    with open(err_path, "rb") as err:
        stderr = err.read().decode(errors="replace")
    selector.close()
    if current is not None:
        outcome = "hang" if hung else (f"signal {-proc.returncode}" if proc.returncode < 0
                                       else f"exit {proc.returncode}")
        results[current] = {"index": current, "outcome": outcome, "message": stderr[-300:]}
        done.add(current)
    elif proc.returncode != 0:
        raise RuntimeError(f"corpus worker failed outside any file: {stderr[-2000:]}")
    return [e for e in entries if e["index"] not in done]


def _load_all(corpus, directory):
    results = {}
    batches = [corpus["entries"][i::WORKERS] for i in range(WORKERS)]

    def run(i, batch):
        n = 0
        while batch:
            batch = _run_worker(os.path.join(directory, f"tasks_{i}_{n}.json"), batch, corpus["sources"], results)
            n += 1

    threads = [threading.Thread(target=run, args=(i, b)) for i, b in enumerate(batches)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_hostile_corpus_loads_cleanly_or_raises_value_error(tmp_path_factory, capsys):
    directory = str(tmp_path_factory.mktemp("corpus"))
    start = time.perf_counter()
    corpus = hostile_corpus.generate(directory)
    generated = time.perf_counter()
    entries = corpus["entries"]
    results = _load_all(corpus, directory)
    loaded = time.perf_counter()

    assert len(entries) >= 300 and sorted(results) == [e["index"] for e in entries]
    outcomes = collections.Counter(r["outcome"] for r in results.values())
    by_family = collections.defaultdict(collections.Counter)
    for e in entries:
        by_family[e["kind"].split(".")[0]][results[e["index"]]["outcome"]] += 1
    with capsys.disabled():
        print(f"\n[corpus] {len(entries)} files: generated in {generated - start:.1f} s, loaded by {WORKERS} "
              f"workers in {loaded - generated:.1f} s; outcomes {dict(outcomes)}")
        for family, counts in sorted(by_family.items()):
            print(f"[corpus]   {family}: {dict(counts)}")

    bad = [(e["kind"], e["source"], os.path.basename(e["file"]), results[e["index"]]["outcome"],
            results[e["index"]].get("message", "")[:200])
           for e in entries if results[e["index"]]["outcome"] not in ALLOWED]
    assert not bad, "files that crashed, hung, ran out of memory or raised another exception:\n" + \
        "\n".join(map(str, bad))
    for e in entries:
        outcome = results[e["index"]]["outcome"]
        if e["kind"] == "valid":
            assert outcome == "loaded_same", (e, results[e["index"]])
        if e["kind"].startswith("config.code.") or e["kind"].startswith(("hdf5.external", "hdf5.virtual",
                                                                         "hdf5_in_keras.external",
                                                                         "hdf5_in_keras.virtual", "zip.bomb")):
            assert outcome == "ValueError", (e, results[e["index"]])
    assert not os.path.exists(os.path.join(directory, "PWNED")) and not os.path.exists("PWNED")


_FAKE_WORKER = """
import json, os, signal, sys, time
tasks = json.load(open(sys.argv[1]))
for entry in tasks["entries"]:
    print("S", entry["index"], flush=True)
    if entry["file"] == "CRASH":
        os.kill(os.getpid(), signal.SIGSEGV)
    if entry["file"] == "HANG":
        time.sleep(3600)
    print("R", json.dumps({"index": entry["index"], "outcome": "loaded_same"}), flush=True)
"""


def test_the_runner_attributes_crashes_and_hangs(tmp_path, monkeypatch):
    """The net itself: a worker that dies on a file (a signal) or stops answering has that file
    attributed, and the files after it are still loaded (by a new worker)."""
    fake = tmp_path / "fake_worker.py"
    fake.write_text(_FAKE_WORKER)
    monkeypatch.setattr(sys.modules[__name__], "WORKER", str(fake))
    monkeypatch.setattr(sys.modules[__name__], "FILE_TIMEOUT_S", 5)
    entries = [{"index": i, "file": name, "kind": "x", "source": "m", "mode": "model"}
               for i, name in enumerate(["a", "CRASH", "b", "HANG", "c"])]
    results, remaining, n = {}, entries, 0
    while remaining:
        remaining = _run_worker(str(tmp_path / f"t{n}.json"), remaining, {}, results)
        n += 1
    assert [results[i]["outcome"] for i in range(5)] == [
        "loaded_same", "signal 11", "loaded_same", "hang", "loaded_same"], (n, results)
