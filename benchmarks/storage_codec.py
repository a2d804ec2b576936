"""The compact ciphertext storage encoding: sizes and CPU per ciphertext, both parameter sets.

    python -m benchmarks.storage_codec

For the original and lean CKKS parameters it encrypts fresh ciphertexts on the client side
(public-key encryption, as the web client does) and times, per ciphertext (median of rounds
over 64 ciphertexts): SEAL's validating load of the bytes as sent (what the upload did before
the compact encoding), the upload's load-and-encode (one inflate, SEAL's load of the
uncompressed content, bit packing), decoding a stored ciphertext to SEAL's uncompressed
serialization, the aggregator's load of a stored ciphertext, and re-encoding for a client
(decode and zstd).
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from collections.abc import Callable

from reflective_adapters.he import storage
from reflective_adapters.he.codec import SealCodec
from reflective_adapters.he.context import context_for
from reflective_client.crypto.he import CkksKeys
from reflective_domain.he_params import CkksParameters

COUNT = 64
ROUNDS = 5


def per_item_ms(work: Callable[[bytes], object], items: list[bytes]) -> float:
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for item in items:
            work(item)
        rounds.append((time.perf_counter() - started) / len(items))
    return statistics.median(rounds) * 1000


def main() -> None:
    print(f"# Storage codec ({os.cpu_count()} cores, load {os.getloadavg()[0]:.2f})\n")
    print(
        "| parameters | sent (B) | stored (B) | stored/sent | SEAL load as sent (ms) "
        "| load + encode (ms) | decode (ms) | load stored (ms) | for client (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    codec = SealCodec()
    for name, parameters in (
        ("original", CkksParameters.original()),
        ("lean", CkksParameters.lean()),
    ):
        keys = CkksKeys.generate(parameters)
        context = context_for(parameters)
        sent = [keys.encrypt(float(i), symmetric=False) for i in range(COUNT)]
        stored = [codec.load_for_storage(context, item)[1] for item in sent]
        load = per_item_ms(functools.partial(codec.load_ciphertext, context), sent)
        encode = per_item_ms(functools.partial(codec.load_for_storage, context), sent)
        decode = per_item_ms(storage.decode, stored)
        load_stored = per_item_ms(functools.partial(codec.load_ciphertext, context), stored)
        for_client = per_item_ms(storage.for_client, stored)
        print(
            f"| {name} | {len(sent[0]):,} | {len(stored[0]):,} | "
            f"{len(stored[0]) / len(sent[0]):.2f} | {load:.2f} | {encode:.2f} | {decode:.2f} "
            f"| {load_stored:.2f} | {for_client:.2f} |"
        )
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
