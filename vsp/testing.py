"""Loaded by pytest before Django (``-p vsp.testing`` in pytest.ini): the test process's own environment."""

import os

# With DEBUG off (as under pytest) the shipped default key is refused (vsp.E001), also by `import vsp.asgi`.
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-used-anywhere-else")

# The test process's job broker: a Redis database of its own (13), which the tests' worker processes
# share and empty, so that no job a test sends reaches a developer's worker.
if os.environ.get("REDIS_URL") and not os.environ.get("JOB_BROKER_URL"):
    os.environ["JOB_BROKER_URL"] = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/13"
