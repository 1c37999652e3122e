"""``redactline enclave serve --provider simulated-snp|simulated-tdx`` through the CLI's own config path.

The options are parsed by ``add_serve_arguments`` and turned into the service by ``service_from_args``
(what ``run_serve`` runs); the root written by ``--root-out`` is all a client pinned to that TEE type
needs to verify the (UNSAFE) attestation. The same server also enforces ``--header-timeout``.
"""

from __future__ import annotations

import argparse
import socket
import time

import pytest

from redactline.enclave_sink.client import AttestationRejected, EnclaveClient, EnclaveTrust
from redactline.enclave_sink.server.serve import ServiceThread, add_serve_arguments, service_from_args

POLICY = "cd" * 32
REGION = "eu-west-1"
HEADER_TIMEOUT = 0.3


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(("provider", "tee"), [("simulated-snp", "sev-snp"), ("simulated-tdx", "tdx")])
def test_serve_simulated_tee_is_verified_as_that_tee(tmp_path, capsys, provider, tee):
    root = tmp_path / "root.pem"
    args = _parse("--allow-policy", POLICY, "--region", REGION, "--provider", provider,
                  "--root-out", str(root), "--backend", "openai-compatible",
                  "--header-timeout", str(HEADER_TIMEOUT))
    service = service_from_args(args)  # the openai-compatible backend loads nothing: attestation only
    err = capsys.readouterr().err
    assert f"UNSAFE: provider {service.provider.name} is a simulator" in err and f"pin TEE type {tee}" in err
    root_pem = root.read_bytes()
    assert root_pem.startswith(b"-----BEGIN CERTIFICATE-----")

    with ServiceThread(service) as thread:
        slow = socket.create_connection(("127.0.0.1", thread.port), timeout=5)
        slow.sendall(b"POST /v1/attestation HTTP/1.1\r\n")  # headers never finished
        started = time.monotonic()

        trust = EnclaveTrust(root_pem=root_pem, allow_unsafe_root=True, tee=tee, allow_tcb_unknown=True)
        client = EnclaveClient(thread.base_url, trust.verifier(), policy_hash=POLICY, region=REGION)
        try:
            session = client.attest()
            assert session.verified.tee == tee and session.verified.trusted_root_unsafe
            assert session.region == REGION
        finally:
            client.close()
        nitro_trust = EnclaveTrust(root_pem=root_pem, allow_unsafe_root=True)  # tee defaults to nitro
        nitro = EnclaveClient(thread.base_url, nitro_trust.verifier())
        try:
            with pytest.raises(AttestationRejected, match="attestation failed"):  # Nitro-pinned: refused
                nitro.attest()
        finally:
            nitro.close()

        with slow:
            answer = b""
            while chunk := slow.recv(4096):  # until the server closes
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < HEADER_TIMEOUT + 2.0


def test_root_out_and_provider_choices():
    with pytest.raises(ValueError, match="--root-out only applies"):
        service_from_args(_parse("--allow-policy", POLICY, "--provider", "nitro-nsm", "--root-out", "x.pem"))
    with pytest.raises(ValueError, match="header_timeout"):
        service_from_args(_parse("--allow-policy", POLICY, "--simulated", "--header-timeout", "0",
                                 "--backend", "openai-compatible"))
