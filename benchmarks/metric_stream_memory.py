"""Peak memory of the streamed metrics parser on one hostile body, in a fresh process.

    python -m benchmarks.metric_stream_memory nested_arrays --chunk 65536

Runs ``reflective_app.metric_stream.metric_uploads`` over the body, fed in ``--chunk``-byte
chunks (64 KiB is what a socket read gives; a larger value stands for a body that arrives at
once, as through an in-process ASGI client), and prints the answer and the process's peak
resident memory before and after. Run it under ``ulimit -v`` when measuring code that may not
bound its memory.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
from collections.abc import AsyncIterator, Callable

from litestar.exceptions import ValidationException

from reflective_app.bodies import MalformedBody
from reflective_app.metric_stream import metric_uploads

BODIES: dict[str, Callable[[], bytes]] = {
    "nested_arrays": lambda: b"[" * 100_000 + b"]" * 100_000,
    "nested_maps": lambda: b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "nested_in_an_item": lambda: b'{"metrics":[{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}]}",
    "many_events": lambda: b'{"x":[' + b"[]," * 3_000_000 + b"[]]}",
}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _answer(body: bytes, chunk: int) -> str:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), chunk):
            yield body[start : start + chunk]

    try:
        async for _ in metric_uploads(chunks()):
            pass
    except ValidationException as exc:
        return f"422 {exc.extra}"
    except MalformedBody:
        return "422 not JSON"
    except MemoryError:
        return "MemoryError"
    return "accepted"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("body", choices=sorted(BODIES))
    parser.add_argument("--chunk", type=int, default=64 * 1024)
    args = parser.parse_args()
    body = BODIES[args.body]()
    before = _peak_mib()
    answer = asyncio.run(_answer(body, args.chunk))
    print(
        f"{args.body} ({len(body) / 1e6:.1f} MB, chunks of {args.chunk}): {answer[:100]}; "
        f"peak RSS {before:.0f} MiB before, {_peak_mib():.0f} MiB after"
    )


if __name__ == "__main__":
    main()
