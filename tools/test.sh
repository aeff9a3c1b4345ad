#!/usr/bin/env bash
# Installs everything the tests need, then runs every net, timing each one:
#   pytest      the Python suite (Keras 3.15.1 on its torch backend reads lamina's files in it)
#   properties  tests/test_properties.py: every op against NumPy (hypothesis, profile "ci": derandomized)
#   corpus      tests/test_corpus.py: damaged and hostile model files, each loaded under limits
#   sanitizer   tools/sanitize.sh: ASan + UBSan build of the library, its C++ tests and Python tests
#   ctest       the C++ suite (GoogleTest), built against the installed lamina package
# The budget: the whole command under 45 minutes on 2 cores (the sanitizer net about 15 of them).
# The soak test (tests/test_soak.py) is not run here: python -m pytest -m soak tests/test_soak.py
#   bash tools/test.sh            (uses `python` on PATH: activate your virtual environment first)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
START=$(date +%s)
TIMES=()
# step NAME COMMAND...: runs one net and records its time.
step() {
  local name=$1 t0 rc
  shift
  echo "=== $name"
  t0=$(date +%s)
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  TIMES+=("$(printf '%-12s %5d s%s' "$name" $(($(date +%s) - t0)) "$([ $rc -eq 0 ] || echo "  FAILED (exit $rc)")")")
  echo "=== $name: $(($(date +%s) - t0)) s (exit $rc)"
  if [ $rc -ne 0 ]; then
    FAILED+=("$name")
  fi
}
FAILED=()
summary() {
  echo "=== times"
  printf '  %s\n' "${TIMES[@]}"
  printf '  %-12s %5d s\n' total $(($(date +%s) - START))
}
# pytest's exit code 5 means no test ran: that is a failure here.
run_pytest() {
  local rc
  set +e
  $PY -m pytest -q "$@"
  rc=$?
  set -e
  if [ $rc -eq 5 ]; then
    echo "pytest collected no tests ($*): failing" >&2
    return 1
  fi
  return $rc
}
# The nets that other files hold: a missing file is a failure, not a skipped net.
need() {
  [ -f "$1" ] || { echo "$1 is missing: its net cannot run" >&2; return 1; }
}

install() {
  # 1. Debian packages for the C++ tests and benchmarks (Eigen is also fetched from PyPI by the build).
  local missing=() pkg SUDO=""
  for pkg in libeigen3-dev libgtest-dev libbenchmark-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
  fi
  # 2. lamina with its test dependencies; torch (pinned) for the interop tests and as Keras's backend,
  #    Keras itself for the Keras-reads-lamina saving tests.
  $PY -m pip install --quiet ".[test]" "torch==2.13.0" "keras==3.15.1"
}
cpp_tests() {
  # C++ tests against the installed package (the same liblamina the Python module uses).
  cmake -S tests/cpp -B build/cpp-tests -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$($PY -m lamina --cmake-dir)" >/dev/null
  cmake --build build/cpp-tests -j2
  ctest --test-dir build/cpp-tests --output-on-failure --no-tests=error
}

export KERAS_BACKEND=torch HYPOTHESIS_PROFILE=ci
step install install
[ ${#FAILED[@]} -eq 0 ] || { summary; exit 1; }
# Every net runs even when one before it fails: one run shows every failure there is.
step pytest run_pytest tests --ignore=tests/test_properties.py --ignore=tests/test_corpus.py
step properties eval 'need tests/test_properties.py; run_pytest tests/test_properties.py'
step corpus eval 'need tests/test_corpus.py; run_pytest tests/test_corpus.py'
step sanitizer bash tools/sanitize.sh
step ctest cpp_tests
summary
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "FAILED: ${FAILED[*]}" >&2
  exit 1
fi
