#!/usr/bin/env bash
# Installs everything the tests need, then runs every test: the Python suite (pytest) and the C++
# suite (GoogleTest, built against the installed lamina package and run by ctest).
#   bash tools/test.sh            (uses `python` on PATH: activate your virtual environment first)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}

# 1. Debian packages for the C++ tests and benchmarks (Eigen is also fetched from PyPI by the build).
missing=()
for pkg in libeigen3-dev libgtest-dev libbenchmark-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# 2. lamina itself with its test dependencies (torch is pinned: it is only used by interop tests).
$PY -m pip install --quiet ".[test]" "torch==2.13.0"

# 3. Python tests. pytest's exit code 5 means no test ran: that is a failure here.
set +e
$PY -m pytest tests -q
rc=$?
set -e
if [ $rc -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
[ $rc -eq 0 ] || exit $rc

# 4. C++ tests against the installed package (the same liblamina the Python module uses).
cmake -S tests/cpp -B build/cpp-tests -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$($PY -m lamina --cmake-dir)" >/dev/null
cmake --build build/cpp-tests -j2
ctest --test-dir build/cpp-tests --output-on-failure --no-tests=error
