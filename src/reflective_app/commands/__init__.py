"""Click commands of the ``reflective`` CLI that run the app: ``serve`` and ``dev-reset``."""
