"""Attestation providers: who signs the document that publishes the enclave key.

* :class:`SimulatedNitroProvider` wraps :class:`~redactline.enclave_sink.simulator.UnsafeSimulatedNitro`:
  Nitro-shaped documents under a locally generated root. It proves NOTHING about hardware and says
  so loudly at construction and in ``/healthz``.
* :class:`NitroNsmProvider` talks to the Nitro Security Module through ``/dev/nsm`` as documented by
  the Linux ``nsm`` driver (``include/uapi/linux/nsm.h``) and aws-nitro-enclaves-nsm-api: one
  ``ioctl(fd, NSM_IOCTL_RAW, struct nsm_raw)`` whose request iovec holds the CBOR of the serde-encoded
  ``Request::Attestation { user_data, nonce, public_key }`` and whose response iovec (up to 0x3000
  bytes) receives ``Response::Attestation { document }`` or ``Response::Error(code)``.
  It only runs inside a Nitro Enclave: this machine has no ``/dev/nsm``, so it is untested against a
  device here; its request encoding and response decoding are tested, and it raises
  :class:`NsmUnavailableError` when the device is absent.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
from typing import Protocol

import cbor2

from ..simulator import UnsafeSimulatedNitro
from ..simulator_snp import UnsafeSimulatedSnp
from ..simulator_tdx import UnsafeSimulatedTdx

logger = logging.getLogger(__name__)

# From include/uapi/linux/nsm.h: NSM_MAGIC 0x0A, NSM_IOCTL_RAW = _IOWR(NSM_MAGIC, 0, struct nsm_raw).
NSM_MAGIC = 0x0A
NSM_REQUEST_MAX_SIZE = 0x1000
NSM_RESPONSE_MAX_SIZE = 0x3000
MAX_USER_FIELD_BYTES = 1024  # NSM limit for user_data, nonce and public_key


class _NsmIovec(ctypes.Structure):
    _fields_ = (("addr", ctypes.c_uint64), ("len", ctypes.c_uint64))


class _NsmRaw(ctypes.Structure):
    _fields_ = (("request", _NsmIovec), ("response", _NsmIovec))


def _iowr(magic: int, number: int, size: int) -> int:
    """Linux ``_IOWR``: direction read|write (3) << 30 | size << 16 | type << 8 | nr."""
    return (3 << 30) | (size << 16) | (magic << 8) | number


NSM_IOCTL_RAW = _iowr(NSM_MAGIC, 0, ctypes.sizeof(_NsmRaw))  # 0xC0200A00 on 64-bit Linux


class AttestationProvider(Protocol):
    """Issues an attestation document binding ``nonce``, ``user_data`` and ``public_key``."""

    name: str
    unsafe: bool

    def attest(self, *, nonce: bytes, user_data: bytes, public_key: bytes) -> bytes: ...


class SimulatedNitroProvider:
    """UNSAFE: documents from :class:`UnsafeSimulatedNitro`, carrying the service's own key."""

    name = "simulated-nitro"
    unsafe = True

    def __init__(self, simulator: UnsafeSimulatedNitro | None = None) -> None:
        logger.warning(
            "SimulatedNitroProvider: attestation documents are SIMULATED and prove nothing; "
            "clients must pass the simulator root explicitly as unsafe. Never use this in production."
        )
        self.simulator = simulator or UnsafeSimulatedNitro()

    def attest(self, *, nonce: bytes, user_data: bytes, public_key: bytes) -> bytes:
        fields = self.simulator.payload_fields(nonce, user_data)
        fields["public_key"] = public_key
        return self.simulator.sign_document(fields)


class SimulatedSnpProvider:
    """UNSAFE: SEV-SNP evidence bundles (real report format) from :class:`UnsafeSimulatedSnp`, whose
    ARK/ASK/VCEK are generated locally; ``report_data`` binds nonce, user data and the service key."""

    name = "simulated-sev-snp"
    unsafe = True

    def __init__(self, simulator: UnsafeSimulatedSnp | None = None) -> None:
        logger.warning("SimulatedSnpProvider: SEV-SNP reports are SIMULATED and prove nothing (tests only)")
        self.simulator = simulator or UnsafeSimulatedSnp()

    def attest(self, *, nonce: bytes, user_data: bytes, public_key: bytes) -> bytes:
        return self.simulator.attest(nonce=nonce, user_data=user_data, public_key=public_key)


class SimulatedTdxProvider:
    """UNSAFE: TDX evidence bundles (real DCAP v4 quotes) from :class:`UnsafeSimulatedTdx`, whose
    SGX root, PCK chain and collateral are generated locally."""

    name = "simulated-tdx"
    unsafe = True

    def __init__(self, simulator: UnsafeSimulatedTdx | None = None) -> None:
        logger.warning("SimulatedTdxProvider: TDX quotes are SIMULATED and prove nothing (tests only)")
        self.simulator = simulator or UnsafeSimulatedTdx()

    def attest(self, *, nonce: bytes, user_data: bytes, public_key: bytes) -> bytes:
        return self.simulator.attest(nonce=nonce, user_data=user_data, public_key=public_key)


class NsmUnavailableError(RuntimeError):
    """``/dev/nsm`` is missing: not inside a Nitro Enclave (or the driver is not loaded)."""


class NsmError(RuntimeError):
    """The NSM answered with an error code or an unexpected response."""


def encode_attestation_request(
    *, nonce: bytes | None, user_data: bytes | None, public_key: bytes | None
) -> bytes:
    """CBOR of ``Request::Attestation`` as serde_cbor writes it: ``{"Attestation": {...}}``, byte strings."""
    for label, value in (("nonce", nonce), ("user_data", user_data), ("public_key", public_key)):
        if value is not None and len(value) > MAX_USER_FIELD_BYTES:
            raise ValueError(f"{label} is over the NSM limit of {MAX_USER_FIELD_BYTES} bytes")
    body = {"user_data": user_data, "nonce": nonce, "public_key": public_key}
    encoded = cbor2.dumps({"Attestation": body})
    if len(encoded) > NSM_REQUEST_MAX_SIZE:
        raise ValueError("NSM request is over 0x1000 bytes")
    return encoded


def decode_attestation_response(data: bytes) -> bytes:
    """The document from ``Response::Attestation {document}``; :class:`NsmError` for anything else."""
    try:
        response = cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError) as exc:
        raise NsmError(f"NSM response is not CBOR: {exc}") from None
    if isinstance(response, dict) and "Error" in response:
        raise NsmError(f"NSM refused the attestation request: {response['Error']!r}")
    if isinstance(response, str):  # unit variants are encoded as bare strings
        raise NsmError(f"unexpected NSM response {response!r}")
    body = response.get("Attestation") if isinstance(response, dict) else None
    document = body.get("document") if isinstance(body, dict) else None
    if not isinstance(document, bytes):
        raise NsmError("NSM response carries no attestation document")
    return document


class NitroNsmProvider:
    """Real Nitro attestation through ``/dev/nsm`` (only inside a Nitro Enclave; cannot run here)."""

    name = "nitro-nsm"
    unsafe = False

    def __init__(self, device: str = "/dev/nsm") -> None:
        if not os.path.exists(device):
            raise NsmUnavailableError(
                f"{device} does not exist: NitroNsmProvider only works inside an AWS Nitro Enclave "
                "(use the simulated provider for local runs)"
            )
        self.device = device

    def attest(self, *, nonce: bytes, user_data: bytes, public_key: bytes) -> bytes:
        request = encode_attestation_request(nonce=nonce, user_data=user_data, public_key=public_key)
        request_buf = ctypes.create_string_buffer(request, len(request))
        response_buf = ctypes.create_string_buffer(NSM_RESPONSE_MAX_SIZE)
        message = _NsmRaw(
            _NsmIovec(ctypes.addressof(request_buf), len(request)),
            _NsmIovec(ctypes.addressof(response_buf), NSM_RESPONSE_MAX_SIZE),
        )
        fd = os.open(self.device, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, NSM_IOCTL_RAW, message)  # the driver writes back response.len
        except OSError as exc:
            raise NsmError(f"NSM ioctl failed: {exc}") from None
        finally:
            os.close(fd)
        length = message.response.len
        if not 0 < length <= NSM_RESPONSE_MAX_SIZE:
            raise NsmError(f"NSM returned an invalid response length {length}")
        return decode_attestation_response(response_buf.raw[:length])
