"""msgspec Structs for the HTTP edge: what the API reads and writes, nothing else.

Unknown request fields are ignored (msgspec's default), as docs/API_CONTRACT.md requires.
"""
