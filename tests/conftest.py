import os

from hypothesis import HealthCheck, settings

# "ci" is thorough but bounded, and derandomized: the same examples on every run, so a red CI
# is reproducible; "dev" is quick for local runs and explores anew each time (a failure prints
# its seed: `pytest --hypothesis-seed=N`). Pick with HYPOTHESIS_PROFILE.
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    print_blob=True,
)
settings.register_profile("dev", max_examples=40, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
