"""CKKS parameters and the HE public key a user registers on upgrade."""

from __future__ import annotations

from dataclasses import dataclass

from reflective_domain.errors import ValidationFailed

_ALLOWED_DEGREES = (4096, 8192, 16384, 32768)


@dataclass(frozen=True, slots=True)
class CkksParameters:
    """The parameters a user's ciphertexts are made under. Fixed per user once registered."""

    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale: float

    def __post_init__(self) -> None:
        if self.poly_modulus_degree not in _ALLOWED_DEGREES:
            raise ValidationFailed(
                "poly_modulus_degree", f"poly_modulus_degree must be one of {_ALLOWED_DEGREES}"
            )
        if not 2 <= len(self.coeff_mod_bit_sizes) <= 16 or any(
            not 1 <= b <= 60 for b in self.coeff_mod_bit_sizes
        ):
            raise ValidationFailed(
                "coeff_mod_bit_sizes", "coeff_mod_bit_sizes needs 2..16 sizes of 1..60 bits"
            )
        if not self.scale > 1:
            raise ValidationFailed("scale", "scale must be greater than 1")

    @classmethod
    def default(cls) -> CkksParameters:
        """What the server announces to new keys: the lean set, 8192 / [60, 40, 60] / 2^40.

        The web client encodes at 2^40 whatever the announced scale, so a fresh ciphertext
        lives on the 100-bit modulus 60 + 40 (the last 60-bit prime is the special prime of
        key switching): a sum keeps ~2^59 of headroom above the scale, and an average
        multiplies by a plaintext 1/count encoded at the 40-bit prime, which the rescale
        divides out, leaving the result at 2^40 on the 60-bit prime (~2^19 of headroom for
        the average itself). About 0.7 of the original set's ciphertext size."""
        return cls.lean()

    @classmethod
    def lean(cls) -> CkksParameters:
        return cls(8192, (60, 40, 60), float(2**40))

    @classmethod
    def original(cls) -> CkksParameters:
        """What the server announced first, 8192 / [60, 40, 40, 60] / 2^40: keys registered
        under it keep it, and it stays accepted for new keys made by clients that read it."""
        return cls(8192, (60, 40, 40, 60), float(2**40))

    def as_dict(self) -> dict[str, object]:
        return {
            "scheme": "CKKS",
            "poly_modulus_degree": self.poly_modulus_degree,
            "coeff_mod_bit_sizes": list(self.coeff_mod_bit_sizes),
            "scale": self.scale,
        }


@dataclass(frozen=True, slots=True)
class HePublicKey:
    """A SEAL-native serialized public key and the parameters it was made under."""

    data: bytes
    parameters: CkksParameters

    def __post_init__(self) -> None:
        if not self.data:
            raise ValidationFailed("he_public_key", "he_public_key is empty")

    def __repr__(self) -> str:
        return f"HePublicKey(<{len(self.data)} bytes>, {self.parameters!r})"
