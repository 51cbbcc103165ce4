"""Loaded by pytest before Django (``-p vsp.testing`` in pytest.ini): the test process's own environment."""

import os

# With DEBUG off (as under pytest) the shipped default key is refused (vsp.E001), also by `import vsp.asgi`.
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-used-anywhere-else")
