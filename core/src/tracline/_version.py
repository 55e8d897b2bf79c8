"""The version of tracline (kept equal to core/pyproject.toml's by a test).

A literal rather than ``importlib.metadata.version()``: that import would run on every
``tracline`` command, and `tracline run` is meant to cost little more than the command
(benchmarks/startup.py).
"""

__version__ = "0.1.0"
