"""The load generator: simulated users and devices driving a real server over HTTP (``driver``,
``model``), the figures it records (``stats``), the server it starts (``server``), and what it
checks afterwards (``tamper``, ``verify``).

Here, not under ``benchmarks/``, so the tests may use it (``tests/integration/test_load_smoke.py``
runs it for a few seconds); ``python -m benchmarks.load`` and the other benchmarks import it
from here. It is no part of the server or the client package.
"""
