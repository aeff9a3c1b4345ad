"""Shared pytest configuration.

Hypothesis profiles (tests/test_properties.py):
  ci   derandomize=True (the same examples on every run: CI is never flaky), no deadline, a fixed
       number of examples sized so the property file runs in about 2-4 minutes on 2 cores.
       Selected when the environment variable CI is set, or with HYPOTHESIS_PROFILE=ci.
  dev  random examples, many more of them: HYPOTHESIS_PROFILE=dev python -m pytest tests/test_properties.py
The default (neither) is hypothesis's own randomised run with the ci profile's example count.
"""
import os

from hypothesis import HealthCheck, Phase, settings

CI_EXAMPLES = 200

_common = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                      HealthCheck.data_too_large, HealthCheck.differing_executors])
# ci: no shrinking (a failure reports the example as found; rerun with the dev profile to shrink):
# the xfailed known defects would otherwise spend most of the budget shrinking
settings.register_profile("ci", derandomize=True, max_examples=CI_EXAMPLES, database=None,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate], **_common)
settings.register_profile("dev", max_examples=500, **_common)
settings.register_profile("default", max_examples=CI_EXAMPLES, **_common)

_profile = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
settings.load_profile(_profile)
