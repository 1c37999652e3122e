"""A strict DER reader for the few vendor extensions ``cryptography`` hands over as raw bytes.

AMD puts the VCEK's TCB values in extensions whose values are DER INTEGERs (and the product name an
IA5String); Intel puts the PCK certificate's SGX facts (FMSPC, TCB SVNs, PCE-ID) in a nested
SEQUENCE of (OID, value) pairs. This module reads tag-length-value triples and nothing more: no
cryptography happens here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import AttestationError

TAG_INTEGER, TAG_OCTET_STRING, TAG_OID, TAG_ENUMERATED = 0x02, 0x04, 0x06, 0x0A
TAG_IA5STRING, TAG_SEQUENCE, TAG_BOOLEAN = 0x16, 0x30, 0x01


@dataclass(frozen=True)
class Tlv:
    tag: int
    value: bytes


def read_tlvs(data: bytes, what: str = "DER value") -> list[Tlv]:
    """Every top-level TLV in ``data`` (definite lengths only, minimal length encodings)."""
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise AttestationError(f"{what}: truncated DER")
        tag = data[pos]
        if tag & 0x1F == 0x1F:
            raise AttestationError(f"{what}: multi-byte DER tags are not expected")
        first = data[pos + 1]
        pos += 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 4 or pos + count > len(data):
                raise AttestationError(f"{what}: bad DER length")
            length = int.from_bytes(data[pos : pos + count], "big")
            if length < 0x80 or data[pos] == 0:
                raise AttestationError(f"{what}: non-minimal DER length")
            pos += count
        if pos + length > len(data):
            raise AttestationError(f"{what}: DER value runs past its container")
        out.append(Tlv(tag, data[pos : pos + length]))
        pos += length
    return out


def read_one(data: bytes, tag: int, what: str) -> bytes:
    """The value of the single TLV ``data`` holds, which must carry ``tag``."""
    tlvs = read_tlvs(data, what)
    if len(tlvs) != 1 or tlvs[0].tag != tag:
        raise AttestationError(f"{what}: expected one DER value with tag 0x{tag:02x}")
    return tlvs[0].value


def integer(value: bytes, what: str) -> int:
    """A DER INTEGER's content as a Python int (minimal encoding enforced)."""
    if not value:
        raise AttestationError(f"{what}: empty INTEGER")
    if len(value) > 1 and (
        (value[0] == 0 and value[1] < 0x80) or (value[0] == 0xFF and value[1] >= 0x80)
    ):
        raise AttestationError(f"{what}: non-minimal INTEGER")
    return int.from_bytes(value, "big", signed=True)


def oid_text(value: bytes) -> str:
    """Dotted text of an OBJECT IDENTIFIER's content."""
    if not value:
        raise AttestationError("empty OBJECT IDENTIFIER")
    arcs: list[int] = []
    acc = 0
    for byte in value:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(acc)
            acc = 0
    if value[-1] & 0x80:
        raise AttestationError("truncated OBJECT IDENTIFIER")
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])
