"""SEV-SNP verification against the real Milan report in ../shared/test-vectors and the simulator.

The real report (google/go-sev-guest verify/testdata/attestation.bin) is a version-2 Milan report
signed by ``vcek.testcer`` (valid 2022-09-24 .. 2029-09-24), chaining to ASK/ARK-Milan. Its guest
policy allows debugging, so every positive check passes ``allow_debug``. These tests FAIL (never
skip) when the shared vectors are missing.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from redactline.enclave_sink.errors import AttestationError, MeasurementError
from redactline.enclave_sink.evidence import EvidenceBundle, detect_tee, encode_bundle
from redactline.enclave_sink.measurement import (
    ExpectedReportData,
    MeasurementAllowlist,
    policy_from_mapping,
)
from redactline.enclave_sink.simulator_snp import UnsafeSimulatedSnp
from redactline.enclave_sink.snp import (
    AMD_ARK_SHA256,
    SIGNED_SIZE,
    SnpVerifier,
    amd_roots,
    load_certificates,
    parse_snp_report,
)
from redactline.enclave_sink.trust import TrustRoot, UnsafeTrustRoot, fingerprint_sha256

SHARED = Path(os.environ.get("REDACTLINE_SHARED") or Path(__file__).resolve().parents[2].parent / "shared")
SNP = SHARED / "test-vectors" / "attestation" / "sev-snp" / "google-go-sev-guest" / "verify"
OWN_TIME = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
TODAY = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _read(rel: str) -> bytes:
    path = SNP / rel
    if not path.is_file():
        pytest.fail(f"shared SEV-SNP vector not found: {path} (set REDACTLINE_SHARED)")
    return path.read_bytes()


@pytest.fixture(scope="module")
def report() -> bytes:
    return _read("testdata/attestation.bin")


@pytest.fixture(scope="module")
def vcek() -> list[x509.Certificate]:
    with warnings.catch_warnings():  # the real VCEK has serial number 0 (cryptography warns)
        warnings.simplefilter("ignore")
        return load_certificates(_read("testdata/vcek.testcer"))


def _verifier(at: dt.datetime = OWN_TIME, **kwargs: object) -> SnpVerifier:
    kwargs.setdefault("allow_debug", True)
    return SnpVerifier(clock=lambda: at, **kwargs)  # type: ignore[arg-type]


# -- the real report -------------------------------------------------------------------------------


def test_pinned_arks_match_the_shared_amd_chains():
    for product, name in (("Milan", "ask_ark_milan.pem"), ("Genoa", "ask_ark_genoa.pem"),
                          ("Turin", "ask_ark_turin_vcek.pem")):
        shared_ark = x509.load_pem_x509_certificates(_read(f"trust/{name}"))[1]
        assert fingerprint_sha256(shared_ark) == AMD_ARK_SHA256[product] == amd_roots()[product].fingerprint


def test_real_report_verifies_at_its_own_time(report, vcek):
    verified = _verifier().verify(report, certificates=vcek)
    assert verified.tee == "sev-snp" and verified.is_debug
    assert verified.report_data[:5] == bytes([1, 2, 3, 4, 5]) and not any(verified.report_data[5:])
    assert verified.tcb["product"] == "Milan" and verified.tcb["signing_key"] == "vcek"
    assert verified.tcb["reported_tcb"] == {"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68}
    assert verified.measurements["MEASUREMENT"].hex().startswith("b07af962")
    assert not any(verified.measurements["ID_KEY_DIGEST"])  # launched without an ID block
    assert verified.public_key is None and verified.nonce is None
    assert detect_tee(report) == "sev-snp"


def test_real_report_today_still_verifies_because_the_vcek_lives_until_2029(report, vcek):
    assert _verifier(TODAY).verify(report, certificates=vcek).tcb["product"] == "Milan"


@pytest.mark.parametrize(
    "at", [dt.datetime(2029, 9, 25, tzinfo=dt.UTC), dt.datetime(2022, 9, 1, tzinfo=dt.UTC)]
)
def test_real_report_fails_outside_the_vcek_validity(report, vcek, at):
    with pytest.raises(AttestationError, match="validity: VCEK/VLEK 'SEV-VCEK'"):
        _verifier(at).verify(report, certificates=vcek)


def test_debug_policy_is_refused_by_default(report, vcek):
    with pytest.raises(MeasurementError, match="debug: .*policy bit 19"):
        _verifier(allow_debug=False).verify(report, certificates=vcek)


def test_signed_body_bit_flips_fail(report, vcek):
    verifier = _verifier()
    edges = {0, 8 * 0x50, 8 * 0x90, 8 * 0x180, SIGNED_SIZE * 8 - 1}
    positions = sorted(set(range(0, SIGNED_SIZE * 8, 29)) | edges)
    assert len(positions) > 180
    for bit in positions:
        flipped = bytearray(report)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(AttestationError):
            verifier.verify(bytes(flipped), certificates=vcek)


def test_every_signature_byte_flip_fails(report, vcek):
    verifier = _verifier()
    for offset in range(SIGNED_SIZE, len(report)):
        for bit in (0, 7):
            flipped = bytearray(report)
            flipped[offset] ^= 1 << bit
            with pytest.raises(AttestationError, match="signature"):
                verifier.verify(bytes(flipped), certificates=vcek)


def test_wrong_product_root_fails(report, vcek):
    genoa_ark = amd_roots()["Genoa"].certificate
    with pytest.raises(AttestationError, match="chain"):
        _verifier(roots={"Milan": UnsafeTrustRoot(genoa_ark)}).verify(report, certificates=vcek)
    with pytest.raises(AttestationError, match="product: the VCEK is for Milan, expected Genoa"):
        _verifier(product="Genoa").verify(report, certificates=vcek)
    with pytest.raises(AttestationError, match="no trusted root for product Milan"):
        _verifier(roots={"Genoa": amd_roots()["Genoa"]}).verify(report, certificates=vcek)
    with pytest.raises(AttestationError, match="pinned ARK-Milan must be passed as UnsafeTrustRoot"):
        SnpVerifier(roots={"Milan": TrustRoot(genoa_ark)})


def test_generated_root_fails(report, vcek):
    sim = UnsafeSimulatedSnp()
    with pytest.raises(AttestationError, match="chain"):
        _verifier(roots=sim.unsafe_roots()).verify(report, certificates=vcek)


def test_missing_or_wrong_certificates_fail(report, vcek):
    with pytest.raises(AttestationError, match="no SEV-VCEK certificate"):
        _verifier().verify(report)
    vlek_chain = load_certificates(_read("testdata/milanvlek.testcer"))
    with pytest.raises(AttestationError, match="no SEV-VCEK certificate"):
        _verifier().verify(report, certificates=vlek_chain)
    other = UnsafeSimulatedSnp().vcek
    with pytest.raises(AttestationError, match="chain"):
        _verifier().verify(report, certificates=[other])


def test_minimum_tcb(report, vcek):
    _verifier(minimum_tcb={"snp": 5, "microcode": 68}).verify(report, certificates=vcek)
    with pytest.raises(MeasurementError, match="minimum TCB: snp SVN 5 is below the minimum 6"):
        _verifier(minimum_tcb={"snp": 6}).verify(report, certificates=vcek)


def test_measurement_allowlists_and_per_tee_policy(report, vcek):
    measurement = parse_snp_report(report).measurement.hex()
    good = policy_from_mapping({"allow_debug": True, "tees": {
        "sev-snp": {"measurements": {"MEASUREMENT": [measurement], "ID_KEY_DIGEST": ["00" * 48]},
                    "minimum_tcb": {"snp": 5}},
        "nitro": {"pcrs": {0: ["11" * 48]}},
    }})
    _verifier(policy=good).verify(report, certificates=vcek)
    bad = policy_from_mapping({"allow_debug": True, "tees": {"sev-snp": {"measurements": {
        "MEASUREMENT": ["00" * 48]}}}})
    with pytest.raises(MeasurementError, match="MEASUREMENT .* is not in the allowlist"):
        _verifier(policy=bad).verify(report, certificates=vcek)
    nitro_only = policy_from_mapping({"pcrs": {0: ["11" * 48]}, "allow_debug": True})
    with pytest.raises(MeasurementError, match="tee: evidence is sev-snp, expected nitro"):
        _verifier(policy=nitro_only).verify(report, certificates=vcek)
    with pytest.raises(MeasurementError, match="AUTHOR_KEY_DIGEST"):
        _verifier(policy=MeasurementAllowlist("sev-snp", "AUTHOR_KEY_DIGEST", ["ab" * 48])).verify(
            report, certificates=vcek
        )


def test_report_data_binding(report, vcek):
    expected = bytes([1, 2, 3, 4, 5]) + bytes(59)
    _verifier(policy=ExpectedReportData(expected)).verify(report, certificates=vcek)
    with pytest.raises(MeasurementError, match="report_data mismatch"):
        _verifier(policy=ExpectedReportData(bytes(64))).verify(report, certificates=vcek)
    # A bundle whose claims are not what report_data binds is refused.
    der = [c.public_bytes(serialization.Encoding.DER) for c in vcek]
    bundle = encode_bundle(EvidenceBundle("sev-snp", report, tuple(der), b"n" * 32, b"u", b"k"))
    with pytest.raises(MeasurementError, match="report_data: does not bind"):
        _verifier().verify(bundle)
    with pytest.raises(MeasurementError, match="nonce is absent"):
        _verifier().verify(report, certificates=vcek, expected_nonce=b"n" * 32)


@pytest.mark.parametrize(
    ("offset", "value", "reason"),
    [(0, 1, "version 1"), (0, 6, "version 6"), (0x34, 2, "signature algorithm"), (0x4C, 1, "reserved"),
     (0x190, 1, "reserved"), (0x200, 1, "reserved"), (0x30, 4, "VMPL"), (0x2A0 + 60, 1, "padding"),
     (0x4A0 - 1, 1, "padding")],
)
def test_strict_parsing(report, offset, value, reason):
    bad = bytearray(report)
    bad[offset] = value
    with pytest.raises(AttestationError, match=reason):
        parse_snp_report(bytes(bad))
    with pytest.raises(AttestationError, match="0x4A0|1184"):
        parse_snp_report(report + b"\0")


def test_policy_bits_are_checked(report):
    bad = bytearray(report)
    bad[0x0A] &= ~0x02  # bit 17 must be one
    with pytest.raises(AttestationError, match="bit 17"):
        parse_snp_report(bytes(bad))
    bad = bytearray(report)
    bad[0x0F] = 0x80  # bit 63 reserved
    with pytest.raises(AttestationError, match="reserved bits 26..63"):
        parse_snp_report(bytes(bad))


# -- the simulator (same format, generated roots) -----------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> UnsafeSimulatedSnp:
    return UnsafeSimulatedSnp()


def test_simulated_bundle_binds_nonce_user_data_and_key(sim):
    doc = sim.attest(nonce=b"n" * 32, user_data=b"config", public_key=b"key")
    assert detect_tee(doc) == "sev-snp"
    verified = SnpVerifier(roots=sim.unsafe_roots()).verify(doc, expected_nonce=b"n" * 32)
    assert (verified.nonce, verified.user_data, verified.public_key) == (b"n" * 32, b"config", b"key")
    assert verified.trusted_root_unsafe and not verified.is_debug
    with pytest.raises(AttestationError, match="chain"):
        SnpVerifier().verify(doc)  # the pinned AMD roots do not know the simulator
    with pytest.raises(MeasurementError, match="nonce mismatch"):
        SnpVerifier(roots=sim.unsafe_roots()).verify(doc, expected_nonce=b"m" * 32)


def test_reported_tcb_must_match_the_vcek():
    sim = UnsafeSimulatedSnp(vcek_tcb={"bootloader": 3, "tee": 0, "snp": 9, "microcode": 115})
    doc = sim.attest(nonce=b"n" * 32, user_data=b"u", public_key=b"k")
    with pytest.raises(AttestationError, match="tcb: REPORTED_TCB snp SVN 8 differs"):
        SnpVerifier(roots=sim.unsafe_roots()).verify(doc)


def test_chip_id_must_match_the_vcek_hwid(sim):
    body = sim.report_body(bytes(64))
    body[0x1A0] ^= 1
    with pytest.raises(AttestationError, match="CHIP_ID differs"):
        SnpVerifier(roots=sim.unsafe_roots()).verify(sim.sign_report(body), certificates=[sim.vcek, sim.ask])


def test_simulated_debug_guest_is_refused():
    sim = UnsafeSimulatedSnp(debug=True)
    doc = sim.attest(nonce=b"n" * 32, user_data=b"u", public_key=b"k")
    with pytest.raises(MeasurementError, match="debug"):
        SnpVerifier(roots=sim.unsafe_roots()).verify(doc)
