"""TDX verification against the real DCAP v4/v5 quotes in ../shared/test-vectors and the simulator.

Real quotes (google/go-tdx-guest @91f9a52): ``tdx_prod_quote_SPR_E4.dat`` (PCK valid 2022-09-20 ..
2029-09-20; go-tdx-guest checks it at 2023-07-01; the file carries 39 unsigned test bytes after the
quote), ``ccel/cos-113-tdx-quote.dat`` (PCK valid from 2024-07-02; zero-padded to 8000 bytes) and
``quote_v5_sample.dat`` (v5, TDX 1.5 body). The sample TCB info / QE identity / CRLs are dated
June 2023 and were signed by the Intel SGX TCB Signing certificate below. These tests FAIL (never
skip) when the shared vectors are missing.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from cryptography import x509

from redactline.enclave_sink.errors import AttestationError, MeasurementError
from redactline.enclave_sink.evidence import EvidenceBundle, detect_tee, encode_bundle
from redactline.enclave_sink.measurement import policy_from_mapping
from redactline.enclave_sink.simulator_tdx import UnsafeSimulatedTdx
from redactline.enclave_sink.tdx import (
    INTEL_SGX_ROOT_SHA256,
    TdxCollateral,
    TdxVerifier,
    intel_sgx_root,
    load_collateral,
    parse_quote,
    quote_length,
)
from redactline.enclave_sink.trust import TrustRoot, UnsafeTrustRoot, fingerprint_sha256

SHARED = Path(os.environ.get("REDACTLINE_SHARED") or Path(__file__).resolve().parents[2].parent / "shared")
GO_TDX = SHARED / "test-vectors" / "attestation" / "tdx" / "google-go-tdx-guest"
DATA = GO_TDX / "testing" / "testdata"
SPR_TIME = dt.datetime(2023, 7, 1, tzinfo=dt.UTC)
COS_TIME = dt.datetime(2026, 2, 3, tzinfo=dt.UTC)
TODAY = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

# The Intel SGX TCB Signing certificate (CN=Intel SGX TCB Signing, valid 2018-05-21 .. 2025-05-21) that
# signed the sample TCB info and QE identity: Intel PCS sends it in the TCB-Info-Issuer-Chain header,
# which the shared vectors do not hold; copied from google/go-tdx-guest testing/test_cases.go @91f9a52
# (URL-decoded). Public Intel certificate, not a secret.
INTEL_TCB_SIGNING_PEM = b"""-----BEGIN CERTIFICATE-----
MIICizCCAjKgAwIBAgIUfjiC1ftVKUpASY5FhAPpFJG99FUwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNTAxMFoXDTI1MDUyMTEwNTAxMFowbDEeMBwG
A1UEAwwVSW50ZWwgU0dYIFRDQiBTaWduaW5nMRowGAYDVQQKDBFJbnRlbCBDb3Jw
b3JhdGlvbjEUMBIGA1UEBwwLU2FudGEgQ2xhcmExCzAJBgNVBAgMAkNBMQswCQYD
VQQGEwJVUzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABENFG8xzydWRfK92bmGv
P+mAh91PEyV7Jh6FGJd5ndE9aBH7R3E4A7ubrlh/zN3C4xvpoouGlirMba+W2lju
ypajgbUwgbIwHwYDVR0jBBgwFoAUImUM1lqdNInzg7SVUr9QGzknBqwwUgYDVR0f
BEswSTBHoEWgQ4ZBaHR0cHM6Ly9jZXJ0aWZpY2F0ZXMudHJ1c3RlZHNlcnZpY2Vz
LmludGVsLmNvbS9JbnRlbFNHWFJvb3RDQS5kZXIwHQYDVR0OBBYEFH44gtX7VSlK
QEmORYQD6RSRvfRVMA4GA1UdDwEB/wQEAwIGwDAMBgNVHRMBAf8EAjAAMAoGCCqG
SM49BAMCA0cAMEQCIB9C8wOAN/ImxDtGACV246KcqjagZOR0kyctyBrsGGJVAiAj
ftbrNGsGU8YH211dRiYNoPPu19Zp/ze8JmhujB0oBw==
-----END CERTIFICATE-----
"""


def _read(rel: str) -> bytes:
    path = DATA / rel
    if not path.is_file():
        pytest.fail(f"shared TDX vector not found: {path} (set REDACTLINE_SHARED)")
    return path.read_bytes()


@pytest.fixture(scope="module")
def spr() -> bytes:
    """The SPR quote without the 39 unsigned test bytes go-tdx-guest appended to the file."""
    raw = _read("tdx_prod_quote_SPR_E4.dat")
    return raw[: quote_length(raw)]


def collateral_dir(tmp_path: Path) -> Path:
    """A --collateral folder: the shared samples plus the TCB signing certificate."""
    out = tmp_path / "collateral"
    out.mkdir()
    for name in ("sample_tcbInfo_response", "sample_qeIdentity_response", "pckcrl", "rootcrl.der"):
        shutil.copy(DATA / name, out / name) if (DATA / name).is_file() else pytest.fail(f"missing {name}")
    (out / "tcb_signing.pem").write_bytes(INTEL_TCB_SIGNING_PEM)
    return out


def _verifier(at: dt.datetime = SPR_TIME, **kwargs: object) -> TdxVerifier:
    kwargs.setdefault("allow_tcb_unknown", True)
    return TdxVerifier(clock=lambda: at, **kwargs)  # type: ignore[arg-type]


def test_pinned_root_is_the_shared_intel_root():
    shared = x509.load_pem_x509_certificate((GO_TDX / "verify" / "trusted_root.pem").read_bytes())
    assert fingerprint_sha256(shared) == INTEL_SGX_ROOT_SHA256 == intel_sgx_root().fingerprint


@pytest.mark.parametrize(
    ("name", "at", "version", "fmspc"),
    [("tdx_prod_quote_SPR_E4.dat", SPR_TIME, 4, "50806f000000"),
     ("ccel/cos-113-tdx-quote.dat", COS_TIME, 4, "00806f050000"),
     ("quote_v5_sample.dat", COS_TIME, 5, "90c06f000000")],
)
def test_real_quotes_verify_at_their_own_time(name, at, version, fmspc):
    raw = _read(name)
    raw = raw[: quote_length(raw)] if name.startswith("tdx_prod") else raw
    verified = _verifier(at).verify(raw)
    assert verified.tee == "tdx" and not verified.is_debug and detect_tee(raw) == "tdx"
    assert verified.tcb["quote_version"] == version and verified.tcb["fmspc"] == fmspc
    assert verified.tcb["tcb_status"] == "unknown"
    assert set(verified.measurements) >= {"MRTD", "RTMR0", "RTMR1", "RTMR2", "RTMR3"}
    assert len(verified.report_data) == 64


def test_unsigned_trailing_bytes_are_refused():
    with pytest.raises(AttestationError, match="39 bytes after the quote are not zero padding"):
        _verifier().verify(_read("tdx_prod_quote_SPR_E4.dat"))


def test_cos_quote_fails_before_its_pck_is_valid():
    with pytest.raises(AttestationError, match="validity: PCK certificate 'Intel SGX PCK Certificate'"):
        _verifier(SPR_TIME).verify(_read("ccel/cos-113-tdx-quote.dat"))


def test_without_collateral_the_tcb_status_is_unknown_and_fails(spr):
    with pytest.raises(MeasurementError, match="tcb status: unknown is not allowed"):
        TdxVerifier(clock=lambda: SPR_TIME).verify(spr)


def test_real_collateral_verifies_and_gives_the_expected_status(spr, tmp_path):
    collateral = load_collateral(collateral_dir(tmp_path))
    # The quote's TEE_TCB_SVN[2] is 4, every sample TCB level needs 5: Intel's "TCB not supported".
    with pytest.raises(MeasurementError, match="tcb status: NotSupported is not allowed"):
        _verifier(collateral=collateral, allow_tcb_unknown=False).verify(spr)
    allowed = _verifier(collateral=collateral, tcb_statuses=["UpToDate", "NotSupported"]).verify(spr)
    assert allowed.tcb["qe_tcb_status"] == "UpToDate" and allowed.tcb["platform_tcb_status"] == "NotSupported"


def test_real_collateral_fails_today(spr, tmp_path):
    collateral = load_collateral(collateral_dir(tmp_path))
    with pytest.raises(AttestationError, match="validity: TCB signing certificate|not current"):
        _verifier(TODAY, collateral=collateral).verify(spr)
    # Without collateral the PCK chain itself is still valid today (until 2029-09-20).
    assert _verifier(TODAY).verify(spr).tcb["tcb_status"] == "unknown"


def test_collateral_for_another_platform_is_refused(tmp_path):
    collateral = load_collateral(collateral_dir(tmp_path))
    with pytest.raises(AttestationError, match="FMSPC 50806f000000, the PCK says 00806f050000"):
        # crls off: the sample CRLs are from 2023; the TCB signing cert was valid until 2025-05
        no_crl = TdxCollateral(collateral.tcb_info, collateral.qe_identity, collateral.signing_chain)
        _verifier(dt.datetime(2024, 7, 10, tzinfo=dt.UTC), collateral=no_crl).verify(
            _read("ccel/cos-113-tdx-quote.dat")
        )


def test_tampered_collateral_signature_fails(spr, tmp_path):
    folder = collateral_dir(tmp_path)
    info = (folder / "sample_tcbInfo_response").read_bytes()
    (folder / "sample_tcbInfo_response").write_bytes(info.replace(b'"UpToDate"', b'"UpToDatf"', 1))
    with pytest.raises(AttestationError, match="TCB info signature does not verify"):
        _verifier(collateral=load_collateral(folder)).verify(spr)


def test_crls_are_checked(spr, tmp_path):
    collateral = load_collateral(collateral_dir(tmp_path))
    assert len(collateral.crls) == 2
    with pytest.raises(AttestationError, match="crl: the CRL of 'Intel SGX PCK Platform CA' is not current"):
        _verifier(dt.datetime(2023, 7, 9, tzinfo=dt.UTC), collateral=collateral).verify(spr)


def test_quote_body_bit_flips_fail(spr):
    verifier = _verifier()
    signed = len(parse_quote(spr).signed)
    for bit in sorted(set(range(0, signed * 8, 23)) | {signed * 8 - 1}):
        flipped = bytearray(spr)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(AttestationError):
            verifier.verify(bytes(flipped))


def test_every_quote_signature_byte_flip_fails(spr):
    verifier = _verifier()
    start = len(parse_quote(spr).signed) + 4
    for offset in range(start, start + 64):  # the quote signature
        flipped = bytearray(spr)
        flipped[offset] ^= 0x01
        with pytest.raises(AttestationError, match="signature"):
            verifier.verify(bytes(flipped))


def test_attestation_key_qe_report_and_its_signature_are_bound(spr):
    verifier = _verifier()
    start = len(parse_quote(spr).signed) + 4 + 64
    for offset in list(range(start, start + 64)) + list(range(start + 64 + 6, start + 64 + 6 + 384 + 64, 7)):
        flipped = bytearray(spr)
        flipped[offset] ^= 0x80
        with pytest.raises(AttestationError):
            verifier.verify(bytes(flipped))


def test_wrong_root_fails(spr):
    sim = UnsafeSimulatedTdx()
    with pytest.raises(AttestationError, match="PCK"):
        _verifier(root=sim.unsafe_root()).verify(spr)
    with pytest.raises(AttestationError, match="UnsafeTrustRoot"):
        TdxVerifier(root=TrustRoot(sim.root))


@pytest.mark.parametrize(
    ("offset", "value", "reason"),
    [(0, 3, "version 3"), (2, 3, "attestation key type"), (4, 0x80, "TEE type"), (9, 1, "reserved"),
     (12, 0, "vendor")],
)
def test_strict_header_parsing(spr, offset, value, reason):
    bad = bytearray(spr)
    bad[offset] = value
    with pytest.raises(AttestationError, match=reason):
        parse_quote(bytes(bad))
    with pytest.raises(AttestationError, match="truncated|runs past"):
        parse_quote(spr[:-1])


def test_measurement_allowlists(spr):
    mrtd = parse_quote(spr).body.mr_td.hex()
    rtmr0 = parse_quote(spr).body.rtmrs[0].hex()
    good = policy_from_mapping({"tee": "tdx", "measurements": {"MRTD": [mrtd], "RTMR0": [rtmr0]}})
    _verifier(policy=good).verify(spr)
    bad = policy_from_mapping({"tees": {"tdx": {"measurements": {"RTMR1": ["00" * 48]}}}})
    with pytest.raises(MeasurementError, match="RTMR1 .* is not in the allowlist"):
        _verifier(policy=bad).verify(spr)
    snp_only = policy_from_mapping({"tees": {"sev-snp": {"measurements": {"MEASUREMENT": ["00" * 48]}}}})
    with pytest.raises(MeasurementError, match="tee: no allowlist for tdx"):
        _verifier(policy=snp_only).verify(spr)


# -- the simulator ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> UnsafeSimulatedTdx:
    return UnsafeSimulatedTdx()


def test_simulated_quote_with_collateral(sim):
    doc = sim.attest(nonce=b"n" * 32, user_data=b"config", public_key=b"key")
    verifier = TdxVerifier(root=sim.unsafe_root(), collateral=sim.collateral())
    verified = verifier.verify(doc, expected_nonce=b"n" * 32)
    assert verified.tcb["tcb_status"] == "UpToDate" and verified.trusted_root_unsafe
    assert (verified.nonce, verified.user_data, verified.public_key) == (b"n" * 32, b"config", b"key")
    with pytest.raises(AttestationError, match="PCK"):
        TdxVerifier(allow_tcb_unknown=True).verify(doc)  # the pinned Intel root does not know it


def test_simulated_tcb_status_allowlist():
    sim = UnsafeSimulatedTdx(tcb_status="OutOfDate")
    doc = sim.attest(nonce=b"n" * 32, user_data=b"u", public_key=b"k")
    with pytest.raises(MeasurementError, match="tcb status: OutOfDate"):
        TdxVerifier(root=sim.unsafe_root(), collateral=sim.collateral()).verify(doc)
    TdxVerifier(root=sim.unsafe_root(), collateral=sim.collateral(),
                tcb_statuses=["UpToDate", "OutOfDate"]).verify(doc)


def test_simulated_debug_td_and_binding(sim):
    debug = UnsafeSimulatedTdx(debug=True)
    doc = debug.attest(nonce=b"n" * 32, user_data=b"u", public_key=b"k")
    with pytest.raises(MeasurementError, match="debug: the tdx guest"):
        TdxVerifier(root=debug.unsafe_root(), allow_tcb_unknown=True).verify(doc)
    quote = sim.quote(bytes(64))
    forged = encode_bundle(EvidenceBundle("tdx", quote, (), b"n" * 32, b"u", b"k"))
    with pytest.raises(MeasurementError, match="report_data: does not bind"):
        TdxVerifier(root=sim.unsafe_root(), allow_tcb_unknown=True).verify(forged)
    assert isinstance(UnsafeTrustRoot(sim.root), TrustRoot)
