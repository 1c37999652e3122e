"""A small reference client of the service: used by tests, the benchmark and smoke checks.

The pipeline's enclave sink is the production client; this one shows the protocol in a few lines:
fetch ``/v1/config``, attest with a fresh nonce, verify the document (chain, nonce, public key,
``user_data`` == SHA-256 of the canonical config), then seal batches and open the replies.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from ..attestation import NitroAttestationVerifier, VerifiedAttestation
from ..envelope import BatchHeader, BatchSealer, enclave_public_key_from_attestation, open_reply
from ..measurement import ExpectedUserData
from .app import ATTESTATION_HEADER
from .config import configuration_digest


class ServiceRefused(Exception):
    """The service answered with an error status; ``code`` is its JSON error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


@dataclass
class Session:
    """A verified attestation plus what the client derived from it."""

    verified: VerifiedAttestation
    key_id: str
    config: dict[str, Any]
    sealer: BatchSealer


class EnclaveClient:
    """Talks to one service; ``verifier`` decides which roots and measurements are trusted."""

    def __init__(self, base_url: str, verifier: NitroAttestationVerifier, *, timeout: float = 30.0) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout)
        self._verifier = verifier
        self.session: Session | None = None

    def attest(self) -> Session:
        """Fetch the config, attest with a fresh nonce, verify everything, start a sealing session."""
        config = self._http.get("/v1/config").raise_for_status().json()
        expected_user_data = configuration_digest(config)
        nonce = os.urandom(32)
        answer = self._http.post("/v1/attestation", json={"nonce": nonce.hex()}).raise_for_status().json()
        verified = self._verifier.verify(base64.b64decode(answer["document"]), expected_nonce=nonce)
        ExpectedUserData(expected_user_data).verify(verified)
        sealer = BatchSealer(enclave_public_key_from_attestation(verified), verified.document_sha256)
        self.session = Session(verified=verified, key_id=answer["key_id"], config=config, sealer=sealer)
        return self.session

    def seal(
        self, records: list[Any], *, policy_hash: str, region: str, batch_id: str | None = None
    ) -> tuple[bytes, BatchHeader, x25519.X25519PrivateKey]:
        """Seal ``records`` for the current session; return envelope, header and the reply key."""
        session = self.session or self.attest()
        reply_key = x25519.X25519PrivateKey.generate()
        header = BatchHeader(
            batch_id=batch_id or os.urandom(12).hex(),
            policy_hash=policy_hash,
            region=region,
            record_count=len(records),
            reply_public_key=reply_key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            ),
            created_at=dt.datetime.now(dt.UTC),
        )
        payload = json.dumps({"records": records}, separators=(",", ":")).encode("utf-8")
        return session.sealer.seal(header, payload), header, reply_key

    def post_envelope(self, envelope: bytes, document_sha256: bytes | None = None) -> bytes:
        """POST a sealed envelope; return the sealed reply or raise :class:`ServiceRefused`."""
        digest = document_sha256 or (self.session.verified.document_sha256 if self.session else b"")
        response = self._http.post(
            "/v1/batches",
            content=envelope,
            headers={"content-type": "application/octet-stream", ATTESTATION_HEADER: digest.hex()},
        )
        if response.status_code != 200:
            try:
                err = response.json()
            except ValueError:
                err = {"error": "unknown", "message": response.text[:200]}
            raise ServiceRefused(response.status_code, err.get("error", "unknown"), err.get("message", ""))
        return response.content

    def process(self, records: list[Any], *, policy_hash: str, region: str) -> list[dict[str, Any]]:
        """Seal, send, open: the results for ``records``."""
        envelope, header, reply_key = self.seal(records, policy_hash=policy_hash, region=region)
        reply = self.post_envelope(envelope)
        return json.loads(open_reply(reply, reply_key, header))["results"]

    def close(self) -> None:
        self._http.close()
