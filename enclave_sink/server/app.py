"""HTTP API of the confidential inference service (Starlette ASGI app, served by uvicorn).

Why Starlette + uvicorn: Starlette is a small, dependency-light ASGI toolkit (routing, requests,
responses: all we need, no ORM or template layer inside the enclave image); uvicorn is the standard
production ASGI server (h11/httptools parsers, keep-alive, connection and concurrency limits,
graceful shutdown on SIGTERM). CPU work (HPKE, spaCy) runs in Starlette's thread pool so the event
loop keeps accepting connections.

Endpoints:

* ``GET /healthz`` -> ``{"status": "ok", "provider", "unsafe_attestation", "backend", "live_keys"}``
* ``GET /v1/config`` -> the attested configuration in clear (its canonical-JSON SHA-256 is the
  document's ``user_data``; also sent as header ``X-Redactline-Config-Sha256``).
* ``POST /v1/attestation`` ``{"nonce": hex}`` (16..64 bytes) -> ``{"document": base64, "key_id",
  "document_sha256": hex, "config_sha256": hex}``. Rate-limited per client address (token bucket,
  ``attestation_rate`` / ``attestation_burst``): over it, 429 ``rate-limited`` with ``Retry-After``.
* ``POST /v1/batches`` body = sealed batch envelope (``application/octet-stream``), header
  ``X-Redactline-Attestation: <hex SHA-256 of the attestation document the batch was sealed against>``
  -> 200 sealed reply (``application/octet-stream``). Refusals are JSON ``{"error": code, "message"}``:
  400 ``bad-envelope`` / ``bad-header`` (a header field out of range) / ``bad-payload`` / ``too-deep``
  (JSON nesting over ``max_payload_depth``) / ``bad-task`` / ``bad-request``, 403 ``policy-not-allowed``
  / ``region-not-allowed`` / ``task-not-allowed`` (a task kind not in the attested ``allowed_tasks``),
  409 ``reattest`` / ``replay`` (answered before) / ``in-flight`` (being processed now), 413
  ``too-large`` / ``too-many-records``, 502 ``backend-failed``.

Every request body must arrive within ``body_timeout`` seconds, else 408 ``body-timeout`` and the
connection is closed (a client trickling bytes cannot hold a worker).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..protocol import ATTESTATION_HEADER, CONFIG_DIGEST_HEADER
from .limits import RateLimiter, retry_after_header
from .service import EnclaveService, ServiceError

logger = logging.getLogger(__name__)

__all__ = ["ATTESTATION_HEADER", "CONFIG_DIGEST_HEADER", "build_app"]
MAX_ATTESTATION_REQUEST_BYTES = 4096
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


class BodyTooLarge(Exception):
    """The request body exceeds the limit (detected before buffering past it)."""


class BodyTimeout(Exception):
    """The request body did not arrive in full within the deadline."""


async def read_limited(request: Request, limit: int, timeout: float) -> bytes:
    """The request body, refused as soon as the declared or received size passes ``limit`` or the
    whole body has taken longer than ``timeout`` seconds to arrive."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ServiceError(400, "bad-request", "invalid Content-Length")
        if int(declared) > limit:
            raise BodyTooLarge
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                if len(body) + len(chunk) > limit:
                    raise BodyTooLarge
                body += chunk
    except TimeoutError:
        raise BodyTimeout from None
    return bytes(body)


def _error(exc: ServiceError) -> JSONResponse:
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status)


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {"error": "too-large", "message": f"request body is over {limit} bytes"},
        status_code=413,
        headers={"Connection": "close"},
    )


def _body_timeout(timeout: float) -> JSONResponse:
    return JSONResponse(
        {"error": "body-timeout", "message": f"request body not received within {timeout:g} s"},
        status_code=408,
        headers={"Connection": "close"},  # the rest of the body is never read: drop the connection
    )


def _client_key(request: Request) -> str:
    # The peer address as the server sees it (behind a proxy, every client shares the proxy's).
    return request.client.host if request.client else "unknown"


def build_app(service: EnclaveService) -> Starlette:
    """The ASGI application for ``service``."""
    settings = service.config
    limiter = RateLimiter(
        settings.attestation_rate, settings.attestation_burst, max_clients=settings.rate_limit_clients
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "provider": service.provider.name,
                "unsafe_attestation": service.provider.unsafe,
                "backend": service.backend.name,
                "live_keys": len(service.keyring.live_key_ids()),
            }
        )

    async def config(request: Request) -> Response:
        return JSONResponse(
            service.attested_config, headers={CONFIG_DIGEST_HEADER: service.config_digest.hex()}
        )

    async def attestation(request: Request) -> Response:
        wait = limiter.acquire(_client_key(request))
        if wait > 0:  # before reading anything: a flood costs us a dictionary lookup per request
            return JSONResponse(
                {"error": "rate-limited", "message": "too many attestation requests from this client"},
                status_code=429,
                headers={"Retry-After": retry_after_header(wait)},
            )
        try:
            body = await read_limited(request, MAX_ATTESTATION_REQUEST_BYTES, settings.body_timeout)
            try:
                nonce_hex = json.loads(body)["nonce"]
                nonce = bytes.fromhex(nonce_hex)
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
                raise ServiceError(400, "bad-request", 'body must be {"nonce": "<hex>"}') from None
            issued = await run_in_threadpool(service.attest, nonce)
        except BodyTooLarge:
            return _too_large(MAX_ATTESTATION_REQUEST_BYTES)
        except BodyTimeout:
            return _body_timeout(settings.body_timeout)
        except ServiceError as exc:
            return _error(exc)
        return JSONResponse(
            {
                "document": base64.b64encode(issued.document).decode("ascii"),
                "key_id": issued.key_id,
                "document_sha256": issued.document_sha256.hex(),
                "config_sha256": service.config_digest.hex(),
            }
        )

    async def batches(request: Request) -> Response:
        limit = settings.max_body_bytes
        try:
            digest_hex = request.headers.get(ATTESTATION_HEADER, "").lower()
            if not _HEX_DIGEST.fullmatch(digest_hex):
                raise ServiceError(
                    400, "bad-request", f"header {ATTESTATION_HEADER} must be the document's SHA-256 (hex)"
                )
            body = await read_limited(request, limit, settings.body_timeout)
            header, reply = await run_in_threadpool(
                service.process_batch, body, binascii.unhexlify(digest_hex)
            )
        except BodyTooLarge:
            logger.info("batch refused: body over %d bytes", limit)
            return _too_large(limit)
        except BodyTimeout:
            logger.info("batch refused: body not received within %g s", settings.body_timeout)
            return _body_timeout(settings.body_timeout)
        except ServiceError as exc:
            logger.info("batch refused: %s (%d)", exc.code, exc.status)
            return _error(exc)
        logger.info("batch %s answered (%d records)", header.batch_id, header.record_count)
        return Response(reply, media_type="application/octet-stream")

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/v1/config", config, methods=["GET"]),
        Route("/v1/attestation", attestation, methods=["POST"]),
        Route("/v1/batches", batches, methods=["POST"]),
    ]
    return Starlette(routes=routes)
