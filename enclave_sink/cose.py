"""COSE_Sign1 (RFC 9052) as used by AWS Nitro: strict decoding and ES384 signature verification.

Only what Nitro needs: a four-element array, a protected header that is exactly ``{1: -35}`` (alg
ES384), an unprotected header map, a byte-string payload and a 96-byte raw ``r || s`` signature.
Tag 18 (COSE_Sign1) is accepted but not required: real NSM documents are untagged.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .errors import AttestationError

COSE_SIGN1_TAG = 18
COSE_ALG_ES384 = -35
ES384_SIGNATURE_LEN = 96  # two 48-byte big-endian integers


def strict_cbor_loads(data: bytes, what: str, max_depth: int = 8, allow_indefinite: bool = False) -> Any:
    """Decode exactly one CBOR item: no trailing bytes, no duplicate keys, no indefinite lengths
    unless ``allow_indefinite`` (recent real Nitro payloads are an indefinite-length map)."""
    stream = io.BytesIO(data)
    try:
        decoder = cbor2.CBORDecoder(
            stream, allow_indefinite=allow_indefinite, allow_duplicate_keys=False, max_depth=max_depth
        )
        item = decoder.decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise AttestationError(f"{what}: not valid CBOR ({type(exc).__name__})") from None
    if stream.tell() != len(data):
        raise AttestationError(f"{what}: {len(data) - stream.tell()} trailing bytes after the CBOR item")
    return item


@dataclass(frozen=True)
class CoseSign1:
    """The four parts of a decoded COSE_Sign1 message."""

    protected: bytes
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes

    def sig_structure(self) -> bytes:
        """The bytes that were signed: ``["Signature1", protected, b"", payload]`` (no external AAD)."""
        return cbor2.dumps(["Signature1", self.protected, b"", self.payload])

    def verify_es384(self, public_key: ec.EllipticCurvePublicKey) -> None:
        """Check the ES384 signature with ``public_key`` (must be P-384); raise on any mismatch."""
        if not isinstance(public_key.curve, ec.SECP384R1):
            raise AttestationError(f"signing key is on {public_key.curve.name}, ES384 needs secp384r1")
        half = ES384_SIGNATURE_LEN // 2
        r = int.from_bytes(self.signature[:half], "big")
        s = int.from_bytes(self.signature[half:], "big")
        try:
            public_key.verify(encode_dss_signature(r, s), self.sig_structure(), ec.ECDSA(hashes.SHA384()))
        except InvalidSignature:
            raise AttestationError(
                "COSE_Sign1 signature does not verify with the leaf certificate key"
            ) from None


def decode_cose_sign1(data: bytes) -> CoseSign1:
    """Parse a COSE_Sign1 structure and check its shape for Nitro (ES384, no other protected headers)."""
    item = strict_cbor_loads(data, "attestation document")
    if isinstance(item, cbor2.CBORTag):
        if item.tag != COSE_SIGN1_TAG:
            raise AttestationError(f"attestation document: unexpected CBOR tag {item.tag} (want none or 18)")
        item = item.value
    # cbor2 yields a tuple for arrays inside tags and a list otherwise.
    if not isinstance(item, list | tuple) or len(item) != 4:
        raise AttestationError("attestation document: COSE_Sign1 must be an array of 4 elements")
    protected, unprotected, payload, signature = item
    if not isinstance(protected, bytes):
        raise AttestationError("COSE protected header must be a byte string")
    if not isinstance(unprotected, Mapping):  # a frozendict when the message was tagged
        raise AttestationError(f"COSE unprotected header must be a map, got {_cbor_type(unprotected)}")
    if not isinstance(payload, bytes):
        raise AttestationError("COSE payload must be a byte string (detached payloads are not allowed)")
    if not isinstance(signature, bytes) or len(signature) != ES384_SIGNATURE_LEN:
        raise AttestationError(f"COSE signature must be {ES384_SIGNATURE_LEN} bytes (ES384 r||s)")
    headers = strict_cbor_loads(protected, "COSE protected header", max_depth=2)
    # type() checks: Python treats True == 1 and -35.0 == -35, CBOR does not.
    if not (
        isinstance(headers, dict)
        and [(type(k), type(v)) for k, v in headers.items()] == [(int, int)]
        and headers == {1: COSE_ALG_ES384}
    ):
        raise AttestationError("COSE protected header must be exactly {1: -35} (alg ES384)")
    if 1 in unprotected:
        raise AttestationError("COSE unprotected header must not carry the algorithm")
    return CoseSign1(protected, dict(unprotected), payload, signature)


def _cbor_type(value: object) -> str:
    return "null" if value is None else type(value).__name__
