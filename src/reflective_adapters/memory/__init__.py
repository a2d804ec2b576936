"""In-memory adapters: every repository port and a unit of work, no database needed.

A supported way to run the domain (scripts, notebooks, tests). Transactions are real: a unit
of work works on a copy of the store and swaps it in on commit, and one lock serializes units
of work, so the memory store behaves like a database at SERIALIZABLE isolation.
"""

from reflective_adapters.memory.store import MemoryStore
from reflective_adapters.memory.unit_of_work import MemoryUnitOfWork

__all__ = ["MemoryStore", "MemoryUnitOfWork"]
