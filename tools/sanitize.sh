#!/usr/bin/env bash
# The sanitizer net: liblamina, the _core extension and the C++ tests built with
# -fsanitize=address,undefined (CMake option LAMINA_SANITIZE, abort on the first report), then the C++
# tests and the Python suite's op, layer, saving and training tests run against that build.
#   bash tools/sanitize.sh        (called by tools/test.sh; uses `python` on PATH, as test.sh does)
# Everything lives in build/sanitize/, apart from the normal install the other tests use:
#   build/sanitize/cmake  the scikit-build-core build directory (kept: with ccache, rebuilds are quick)
#   build/sanitize/site   the sanitized lamina package (pip install --target)
#   build/sanitize/venv   an interpreter whose sys.path has site/ first, then the running interpreter's
#                         packages (numpy, pytest, h5py, ...); an editable lamina install there is not
#                         picked up (its import hook comes from a .pth file this venv does not read)
#   build/sanitize/cpp    the C++ tests, built against site/'s CMake package (the flags come with it)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
B=build/sanitize
JOBS=${LAMINA_SANITIZE_JOBS:-2}
# The Python tests run under the sanitizers: the whole suite (so a new test file is in by default), less
# what does not belong there: torch interop (torch under ASan is slow and not ours), the C++ package tests
# (they build CMake projects: the C++ tests below cover that build) and the corpus (its subprocesses run
# under an address-space limit, which ASan's shadow memory cannot live with). The property tests are in:
# random shapes with 0-size dimensions and broadcasting are what ASan's bounds checks need. Tests can
# tell they run here by LAMINA_SANITIZED=1 in their environment.
PY_IGNORE=(tests/test_interop_torch.py tests/test_cpp_package.py tests/test_corpus.py)
export KERAS_BACKEND=${KERAS_BACKEND:-torch} HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}

stamp() { date +%s; }
t0=$(stamp)

# 1. The sanitized package. No build isolation, so the build directory's paths stay the same from run to
#    run and ccache (used by CMakeLists.txt when present) makes a rebuild cheap.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
$PY -m pip install --quiet scikit-build-core pybind11 cmeel-eigen
rm -rf "$B/site"
$PY -m pip install --quiet --no-deps --no-build-isolation --target "$B/site" \
    -Cbuild-dir="$B/cmake" -Ccmake.build-type=RelWithDebInfo -Ccmake.define.LAMINA_SANITIZE=ON \
    -Cbuild.tool-args=-j"$JOBS" . 2>&1 | grep -v 'is ignored' || true
core=$(ls "$B"/site/lamina/_core*.so)
asan=$(ldd "$core" | awk '/libasan/ {print $3}')
cxxlib=$(ldd "$core" | awk '/libstdc\+\+/ {print $3}')
[ -n "$asan" ] || { echo "sanitize: $core is not linked against libasan" >&2; exit 1; }
t1=$(stamp)

# 2. The interpreter that sees the sanitized package first.
if [ ! -x "$B/venv/bin/python" ]; then
  $PY -m venv --without-pip "$B/venv"
fi
venv_site=$("$B/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
{
  echo "$PWD/$B/site"
  $PY -c "import sys, os; print('\n'.join(p for p in sys.path if p and os.path.isdir(p)))"
} > "$venv_site/lamina_sanitize.pth"
SPY=$PWD/$B/venv/bin/python

# The sanitizers' settings: abort on the first report of either. The C++ tests check leaks too; in
# Python, CPython's own allocations at exit are not leaks of ours: no leak check there.
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
asan_common=halt_on_error=1:abort_on_error=1:strict_init_order=1

# 3. The C++ tests, built with the flags that lamina's exported target carries.
cmake -S tests/cpp -B "$B/cpp" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_PREFIX_PATH="$PWD/$(dirname "$core")/share/cmake/lamina" >/dev/null
cmake --build "$B/cpp" -j"$JOBS"
set +e
ASAN_OPTIONS=$asan_common:detect_leaks=1 ctest --test-dir "$B/cpp" --output-on-failure --no-tests=error
cpp_rc=$?
set -e
t2=$(stamp)

# 4. The Python tests against the sanitized build. Python itself is not instrumented: the ASan runtime is
#    preloaded so that it comes first, and libstdc++ right after it, or ASan's __cxa_throw interceptor finds
#    no real __cxa_throw (python does not link libstdc++) and the first C++ exception aborts. pytest
#    captures sys.stdout/err only (--capture=sys): a report written to file descriptor 2 just before the
#    abort is then printed, not lost in a capture file.
sanitized_python() {
  LAMINA_SANITIZED=1 LD_PRELOAD="$asan $cxxlib" ASAN_OPTIONS=$asan_common:detect_leaks=0 "$SPY" "$@"
}
sanitized_python -c "
import lamina, os, sys
where = os.path.realpath(lamina._core.__file__)
if not where.startswith(os.path.realpath('$B/site') + os.sep):
    sys.exit('sanitize: the tests would import ' + where + ', not the sanitized build')
"
set +e
sanitized_python -m pytest -q -p no:cacheprovider --capture=sys tests "${PY_IGNORE[@]/#/--ignore=}"
py_rc=$?
set -e
if [ $py_rc -eq 5 ]; then
  echo "sanitize: pytest collected no tests: failing" >&2
  py_rc=1
fi
t3=$(stamp)
echo "sanitize: build $((t1 - t0)) s, C++ tests $((t2 - t1)) s (exit $cpp_rc), Python tests $((t3 - t2)) s" \
     "(exit $py_rc), total $((t3 - t0)) s"
# Both parts run, whichever fails first: one run shows every report there is.
[ $cpp_rc -eq 0 ] && [ $py_rc -eq 0 ]
