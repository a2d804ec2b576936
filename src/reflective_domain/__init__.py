"""Reflective's pure domain core: users, privacy tiers, tags, versioned encrypted entries,
conflicts and encrypted metrics, with the ports its use cases need. Standard library only."""

__version__ = "0.1.0"
