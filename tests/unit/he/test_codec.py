"""SealCodec: SEAL load and save through temporary files, with SEAL's errors in our words."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import _sealapi_cpp as sealapi
import pytest

from reflective_adapters.he import SealCodec, SealFormatError, context_for
from reflective_domain.he_params import CkksParameters
from tests.unit.he.client_side import SealClient, load
from tests.unit.he.zstd_bytes import COMPRESSED, RAW, block, rle_bomb, seal_wrap, single_segment


def test_the_codec_leaves_no_temporary_files(
    parameters: CkksParameters, ciphertexts: list[bytes], vectors: dict[str, Any], tmp_path: Path
) -> None:
    codec = SealCodec(scratch_dir=str(tmp_path))
    context = context_for(parameters)
    ciphertext = codec.load_ciphertext(context, ciphertexts[0])
    codec.save_ciphertext(ciphertext)
    with pytest.raises(SealFormatError, match="not valid"):
        codec.load_ciphertext(context, base64.b64decode(vectors["rejects"]["other_parameters"]))
    assert list(tmp_path.iterdir()) == []


def test_the_codec_round_trips_a_ciphertext(
    parameters: CkksParameters, ciphertexts: list[bytes], client: SealClient
) -> None:
    codec = SealCodec()
    context = context_for(parameters)
    again = codec.save_ciphertext(codec.load_ciphertext(context, ciphertexts[3]))
    assert client.decrypt(again) == pytest.approx(1203.5, abs=1e-3)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            single_segment(5000, [block(COMPRESSED, 10, b"\xff" * 10, last=True)]),
            "ciphertext has corrupt compressed data",
        ),
        (
            single_segment(50, [block(RAW, 50, last=True)]),
            "ciphertext is truncated: its compressed content ends early",
        ),
    ],
)
def test_seal_load_failures_get_our_own_words(
    parameters: CkksParameters, frame: bytes, message: str
) -> None:
    with pytest.raises(SealFormatError) as caught:
        SealCodec().load_ciphertext(context_for(parameters), seal_wrap(frame))
    assert caught.value.reason == message


def test_libzstd_in_seal_stops_at_the_declared_content_size(client: SealClient) -> None:
    # What the single-segment rule relies on: given the RLE bomb directly, TenSEAL's SEAL fails
    # at the first block past the declared size instead of inflating 128 MB.
    bomb = seal_wrap(rle_bomb(393_313, 1000))
    with pytest.raises(RuntimeError, match="decompression failed"):
        load(sealapi.Ciphertext(), client.context, bomb)
