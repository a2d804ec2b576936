"""Client-side cryptography: entries (AES-256-GCM), metrics (CKKS), tag names (blind index),
the user's keys and their passphrase-wrapped export. Nothing here talks to the network."""
