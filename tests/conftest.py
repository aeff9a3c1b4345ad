"""Shared pytest configuration.

Hypothesis profiles (tests/test_properties.py):
  ci   the default (and selected by CI=1 or HYPOTHESIS_PROFILE=ci): derandomize=True (the same
       examples on every run, so CI is never flaky), no deadline, no shrinking, a fixed number of
       examples sized so the property file runs in about 2-4 minutes on 2 cores.
  dev  random examples, more of them, with shrinking and hypothesis's example database:
       HYPOTHESIS_PROFILE=dev python -m pytest tests/test_properties.py
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
settings.register_profile("dev", max_examples=1000, **_common)

# CI is always the ci profile; so is every run that does not ask for another one
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "ci")
