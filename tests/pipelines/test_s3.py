"""A run whose source, sinks, quarantine, manifest and policy all live in ``s3://``, against a local S3
server (moto's server mode on 127.0.0.1) reached through Beam's S3 filesystem and ``--s3_endpoint_url``:
the code path a cloud run takes. ``gs://`` uses the same code (Beam's FileSystems) but needs Google
Cloud Storage and cannot be tested here.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.support.demo import DEMO_POLICY
from tests.support.pii import PEOPLE, person_record, pii_values, scan_for

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

KEY_HEX = "11" * 32
BUCKET = "redactline-test"


@pytest.fixture
def s3(monkeypatch, tmp_path):
    """A moto S3 server on 127.0.0.1 with an empty bucket; fake credentials in the environment only."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield endpoint, client
    finally:
        server.stop()


def _csv_bytes() -> bytes:
    """Eight deliverable rows (DE), two held (no country: residency unknown -> hold), one broken row."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(person_record(0)), lineterminator="\n")
    writer.writeheader()
    for i in range(8):
        writer.writerow(person_record(i))
    for i in range(8, 10):
        writer.writerow(person_record(i, country=""))
    name, email, phone = PEOPLE[1]
    return buf.getvalue().encode() + f'900,"{name},{email},{phone},DE,unclosed quote\n'.encode()


def _objects(client) -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def entries_source(objects: dict[str, bytes]) -> list[str]:
    """Where the quarantined entries say they came from (the object, as Beam matched it)."""
    return sorted({e["source"] for e in _jsonl(objects["out/redacted.quarantine.jsonl"])})


def _jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


@pytest.mark.slow
def test_s3_source_sinks_policy_and_manifest(s3, tmp_path, monkeypatch, capsys, no_remote_network):
    from redactline.pipelines.quarantine import read_entries
    from redactline.pipelines.run import run

    endpoint, client = s3
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    client.put_object(Bucket=BUCKET, Key="in/part-1.csv", Body=_csv_bytes())
    client.put_object(Bucket=BUCKET, Key="policies/demo-policy.yaml", Body=DEMO_POLICY.read_bytes())
    base = f"s3://{BUCKET}"
    code = run([
        "--policy", f"{base}/policies/demo-policy.yaml", "--source", f"{base}/in/*.csv",
        "--sink", f"{base}/out/redacted.jsonl", "--quarantine-key-env", "RL_TEST_QKEY", "--quiet",
        "--s3_endpoint_url", endpoint, "--s3_region_name", "us-east-1",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err

    objects = _objects(client)
    # held, quarantine and manifest default to the sink's "directory"; no counts or temporary leftovers
    outputs = {k for k in objects if k.startswith("out/")}
    assert outputs == {"out/redacted.jsonl", "out/redacted.held.jsonl", "out/redacted.quarantine.jsonl",
                       "out/redacted.manifest.json"}, outputs
    delivered = _jsonl(objects["out/redacted.jsonl"])
    held = _jsonl(objects["out/redacted.held.jsonl"])
    assert sorted(int(r["id"]) for r in delivered) == list(range(8))
    assert sorted(int(r["id"]) for r in held) == [8, 9]
    assert all(r["name"] == "<NAME>" and "<EMAIL_ADDRESS>" in r["notes"] for r in delivered)

    manifest = json.loads(objects["out/redacted.manifest.json"])
    counts = manifest["counts"]
    assert (counts["read"], counts["delivered"], counts["held"]["total"], counts["quarantined"]["total"]) == (
        11, 8, 2, 1)
    assert manifest["check"]["holds"] and manifest["state"].endswith("DONE")
    assert manifest["sinks"]["delivered"] == f"{base}/out/redacted.jsonl"
    assert manifest["source"] == f"{base}/in/*.csv"
    assert entries_source(objects) == [f"{base}/in/part-1.csv"]

    # the quarantine is sealed in the bucket; the operator opens it with the key, through FileSystems
    entries = list(read_entries(f"{base}/out/redacted.quarantine.jsonl", bytes.fromhex(KEY_HEX)))
    assert [e["reason"] for e in entries] == ["unclosed_quote"]
    assert PEOPLE[1][1].encode() in entries[0]["raw"]

    # nothing identifying in any object written, nor on the terminal; no connection off 127.0.0.1
    written = tmp_path / "written"
    for key, data in objects.items():
        if key.startswith("out/"):
            (written / key).parent.mkdir(parents=True, exist_ok=True)
            (written / key).write_bytes(data)
    assert scan_for([written], pii_values(), captured.out + captured.err) == []
    assert no_remote_network == []


def test_s3_policy_extending_a_relative_file_is_refused(s3, tmp_path, capsys, no_remote_network):
    from redactline.pipelines.run import run

    endpoint, client = s3
    text = DEMO_POLICY.read_text() + "\nextends: [base.yaml]\n"
    client.put_object(Bucket=BUCKET, Key="p/child.yaml", Body=text.encode())
    code = run(["--policy", f"s3://{BUCKET}/p/child.yaml", "--source", str(tmp_path / "in.csv"),
                "--sink", str(tmp_path / "out.jsonl"), "--s3_endpoint_url", endpoint])
    err = capsys.readouterr().err
    assert code == 2 and "extends[0]" in err and "library:NAME" in err, err
    assert not Path(tmp_path / "out.jsonl").exists()
    assert no_remote_network == []


@pytest.mark.parametrize(("flag", "uri", "fmt"), [
    ("--source", "s3://b/in/*.csv", "csv"), ("--source", "gs://b/in/part-*.jsonl", "jsonl"),
    ("--sink", "s3://b/out/x.parquet", "parquet"), ("--held", "gs://b/h.jsonl", "jsonl"),
])
def test_cloud_uris_are_files(flag, uri, fmt):
    from redactline.pipelines import uris

    endpoint = uris.parse(flag, uri)
    assert (endpoint.kind, endpoint.fmt, endpoint.safe) == ("file", fmt, uri)


@pytest.mark.parametrize("uri", ["hdfs://nn/x.csv", "ftp://h/x.csv", "s3:///x.csv"])
def test_other_schemes_and_no_bucket_are_refused(uri):
    from redactline.pipelines import uris

    with pytest.raises(uris.UriError, match="--sink"):
        uris.parse("--sink", uri)


def test_default_outputs_sit_beside_a_cloud_sink():
    from redactline.pipelines import uris

    sink = uris.parse("--sink", "s3://b/out/run.v1.jsonl")
    assert uris.default_output(sink, ".held.jsonl") == "s3://b/out/run.v1.held.jsonl"
    assert uris.default_output(uris.parse("--sink", "out/r.csv"), ".manifest.json") == str(
        Path("out") / "r.manifest.json")


def test_existing_object_refused_without_overwrite_and_oversize_policy(s3, monkeypatch, no_remote_network):
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    from redactline.pipelines import outputs, uris

    endpoint, client = s3
    monkeypatch.setattr(FileSystems, "_pipeline_options", PipelineOptions(["--s3_endpoint_url", endpoint]))
    client.put_object(Bucket=BUCKET, Key="out/m.json", Body=b"{}")
    client.put_object(Bucket=BUCKET, Key="out/s-00000-of-00002.jsonl", Body=b"")
    taken = outputs.Output("--manifest", f"s3://{BUCKET}/out/m.json")
    with pytest.raises(outputs.OutputPathError, match="--manifest .*already exists"):
        outputs.check_outputs([taken], overwrite=False)
    outputs.check_outputs([taken], overwrite=True)
    with pytest.raises(outputs.OutputPathError, match="shard .*already exists"):
        outputs.check_outputs([outputs.Output("--sink", f"s3://{BUCKET}/out/s.jsonl", shards=2)],
                              overwrite=False)
    with pytest.raises(outputs.OutputPathError, match="names the same file"):
        outputs.check_outputs([outputs.Output("--held", f"s3://{BUCKET}/out/h.jsonl"),
                               outputs.Output("--quarantine", f"s3://{BUCKET}/out/h.jsonl")], overwrite=True)
    client.put_object(Bucket=BUCKET, Key="p/big.yaml", Body=b"#" * 2048)
    with pytest.raises(uris.UriError, match="larger than 1024 bytes"):
        uris.read_policy(f"s3://{BUCKET}/p/big.yaml", 1024)
    assert no_remote_network == []
