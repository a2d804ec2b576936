import os

from hypothesis import HealthCheck, settings

# "ci" is thorough but bounded; "dev" is quick for local runs; pick with HYPOTHESIS_PROFILE.
settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=40, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
