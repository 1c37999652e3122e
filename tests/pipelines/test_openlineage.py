"""OpenLineage events of ``redactline run``: built with the openlineage-python client, sent through its
file and HTTP transports, valid against the spec's JSON schemas (stored offline), named per the naming
spec, and free of PII values and credentials."""

from __future__ import annotations

import gzip
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from redactline.pipelines.lineage_emit import LineageConfigError, configure
from redactline.pipelines.lineage_naming import DatasetName, for_uri
from redactline.pipelines.run import run
from tests.support.demo import DEMO_POLICY
from tests.support.openlineage import read_events, validate_event
from tests.support.pii import person_record, pii_values, scan_for

KEY_HEX = "11" * 32
FIELDS = ["id", "name", "email", "phone", "country", "notes"]


def _args(tmp_path: Path, source: Path, *extra: str) -> list[str]:
    return ["--policy", str(DEMO_POLICY), "--source", str(source),
            "--sink", str(tmp_path / "out" / "r.jsonl"), "--quarantine-key-env", "RL_TEST_QKEY",
            "--quiet", "--run-id", "nightly-42", *extra]


def _write_csv(path: Path, n: int) -> None:
    rows = [",".join(FIELDS)] + [",".join(person_record(i)[f] for f in FIELDS) for i in range(n)]
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture(autouse=True)
def _no_ambient_lineage_config(monkeypatch, tmp_path):
    """No OpenLineage configuration from the machine running the tests."""
    for name in ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED", "OPENLINEAGE_API_KEY",
                 "OPENLINEAGE_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("OPENLINEAGE__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    yield
    # the client must not leave variables behind (it copies OPENLINEAGE_URL and the key into new ones)
    assert [n for n in os.environ if n.startswith("OPENLINEAGE__")] == []


@pytest.mark.slow
def test_file_transport_start_then_complete_schema_valid_named_and_free_of_pii(tmp_path, capsys):
    src = tmp_path / "people.csv"
    _write_csv(src, 6)
    events_file = tmp_path / "lineage" / "events.jsonl"
    events_file.parent.mkdir()
    code = run(_args(tmp_path, src, "--lineage-transport", f"file:{events_file}"))
    assert code == 0, capsys.readouterr().err
    start, complete = read_events(events_file)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert validate_event(start) == [] and validate_event(complete) == []
    assert start["run"]["runId"] == complete["run"]["runId"]  # "nightly-42" is not a UUID: derived once
    assert complete["run"]["facets"]["redactline_policy"]["runId"] == "nightly-42"
    policy = complete["run"]["facets"]["redactline_policy"]
    assert len(policy["meaningHash"]) == 64 and isinstance(policy["keyIds"], list)
    assert complete["job"] == {**complete["job"], "namespace": "redactline",
                               "name": "redact.demo-support-export"}

    [source] = complete["inputs"]
    assert (source["namespace"], source["name"]) == ("file", str(src.resolve()))
    assert source["inputFacets"]["inputStatistics"]["rowCount"] == 6
    outputs = {o["name"]: o for o in complete["outputs"]}
    delivered = outputs[str((tmp_path / "out" / "r.jsonl").resolve())]
    assert delivered["namespace"] == "file"
    assert delivered["outputFacets"]["outputStatistics"]["rowCount"] == 6
    lineage = delivered["facets"]["columnLineage"]["fields"]
    email = lineage["email"]["inputFields"][0]
    assert (email["namespace"], email["name"], email["field"]) == ("file", str(src.resolve()), "email")
    assert email["transformations"][0]["masking"] is True  # the demo policy replaces email whole
    assert lineage["email"]["transformationType"] == "MASKED"
    assert lineage["id"]["inputFields"][0]["transformations"][0] == {
        "type": "DIRECT", "subtype": "IDENTITY", "description": "kept as is (policy field rule)",
        "masking": False}
    assert lineage["notes"]["inputFields"][0]["transformations"][0]["description"].startswith("inspected")
    schema = [f["name"] for f in delivered["facets"]["schema"]["fields"]]
    assert set(FIELDS) < set(schema) and "_redactline" in schema

    manifest = json.loads((tmp_path / "out" / "r.manifest.json").read_text())
    assert manifest["openlineage"] == complete  # the manifest embeds exactly the event sent
    assert manifest["openlineage_transport"]["sent"] == ["START", "COMPLETE"]
    assert scan_for([events_file], pii_values()) == []


class _Collector:
    """A lineage backend stand-in on 127.0.0.1: records each POSTed body (answers 201 like Marquez)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class _H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.posts.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.mark.slow
def test_http_transport_delivers_start_and_fail_of_a_failing_run(tmp_path, monkeypatch, capsys):
    # a truncated .gz cannot be read to its end: the manifest check fails, so the run FAILs
    rows = "".join(",".join(person_record(i)[f] for f in FIELDS) + "\n" for i in range(80))
    data = gzip.compress((",".join(FIELDS) + "\n" + rows).encode(), mtime=0)
    src = tmp_path / "people.csv.gz"
    src.write_bytes(data[: len(data) // 2])
    monkeypatch.setenv("OPENLINEAGE_API_KEY", "ol-test-key")
    backend = _Collector()
    try:
        assert run(_args(tmp_path, src, "--lineage-transport", f"http:{backend.url}")) == 1
    finally:
        backend.close()
    capsys.readouterr()
    assert [path for path, _, _ in backend.posts] == ["/api/v1/lineage"] * 2
    assert all(h["authorization"] == "Bearer ol-test-key" for _, h, _ in backend.posts)
    start, fail = (json.loads(body) for _, _, body in backend.posts)
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    assert validate_event(start) == [] and validate_event(fail) == []
    message = fail["run"]["facets"]["errorMessage"]["message"]
    assert "could not be read to the end" in message
    received = b"".join(body for _, _, body in backend.posts).decode()
    assert scan_for([], pii_values(), received) == []
    manifest = json.loads((tmp_path / "out" / "r.manifest.json").read_text())
    assert manifest["openlineage"] == fail


def test_postgres_dataset_name_has_no_credential(pg):
    pg.conn.execute(f"CREATE TABLE {pg.table('people')} (id int, email text)")
    host_part = pg.url.split("@", 1)[1]  # 127.0.0.1:5432/test
    uri = f"postgresql://postgres:s3cret-pw@{host_part}?sslmode=disable&application_name=tok#{pg.table('people')}"
    name = for_uri(uri)
    assert name.namespace == "postgres://127.0.0.1:5432"
    database, schema, table = name.name.split(".")
    assert (schema, table) == (pg.name, "people")
    # the name points at the real table
    assert pg.conn.execute("SELECT current_database()").fetchone()[0] == database
    assert pg.conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s "
                           "AND table_name = %s", (schema, table)).fetchone()[0] == 1
    assert "s3cret" not in repr(name) and "postgres:" not in name.name and "tok" not in repr(name)


@pytest.mark.parametrize(("uri", "namespace", "name"), [
    ("s3://bucket-a/exports/2026/out.jsonl", "s3://bucket-a", "exports/2026/out.jsonl"),
    ("gs://bucket-b/in/*.parquet", "gs://bucket-b", "in/*.parquet"),
    ("file://nas1/share/in.csv", "file://nas1", "/share/in.csv"),
    ("https://user:pw@api.example.com:8443/v2/items?token=abc", "https://api.example.com:8443", "/v2/items"),
    ("postgresql://db.internal/crm#customers", "postgres://db.internal:5432", "crm.public.customers"),
])
def test_dataset_names_follow_the_naming_spec(uri, namespace, name):
    assert for_uri(uri) == DatasetName(namespace, name)


def test_nothing_is_configured_unless_asked_and_bad_specs_are_usage_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert configure(None) is None  # no flag, no OPENLINEAGE_* variables, no openlineage.yml
    assert configure("none") is None
    for spec in ("kafka", "file:", "http:ftp://x", "http:https://u:secret@host", "http:https://host/?k=v",
                 f"file:{tmp_path}/missing-dir/events.jsonl"):
        with pytest.raises(LineageConfigError) as info:
            configure(spec)
        assert "secret" not in str(info.value)
    (tmp_path / "openlineage.yml").write_text("transport:\n  type: console\n")
    emitter = configure(None)  # the client's own configuration file is honoured
    assert emitter is not None and "console" in emitter.target
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert configure(None) is None


def test_the_schema_check_catches_wrong_types_and_facets_without_producer():
    from redactline.pipelines import lineage_events as le

    run_description = le.RunDescription(
        run_id="r1", job_namespace="redactline", job_name="redact.p", runner="local",
        policy={"name": "p", "version": "1", "sha256": "a" * 64, "key_ids": ["k1"]},
        source=DatasetName("file", "/in.csv"), outputs={"delivered": DatasetName("file", "/out.jsonl")},
        columns=le.column_rules({"email": {"type": "hash"}}, None))
    event = le.as_json(le.start_event(run_description, "2026-01-02T03:04:05.678+00:00"))
    assert validate_event(event) == []
    lineage = event["outputs"][0]["facets"]["columnLineage"]
    assert lineage["fields"]["email"]["inputFields"][0]["transformations"][0]["masking"] is True
    lineage["fields"]["email"]["inputFields"][0]["transformations"][0]["masking"] = "true"
    del event["run"]["facets"]["processing_engine"]["_producer"]
    event["run"]["facets"]["redactline_policy"]["meaningHash"] = "short"
    errors = "\n".join(validate_event(event))
    assert "'true' is not of type 'boolean'" in errors
    assert "processing_engine: no _producer" in errors
    assert "'short' does not match" in errors


def test_the_clients_openlineage_url_configuration_is_used_without_the_flag(monkeypatch):
    from redactline.pipelines import lineage_events as le

    backend = _Collector()
    try:
        monkeypatch.setenv("OPENLINEAGE_URL", backend.url)
        monkeypatch.setenv("OPENLINEAGE_API_KEY", "env-key")
        emitter = configure(None)
        assert emitter is not None and emitter.target == "the configured http transport"
        description = le.RunDescription(
            run_id="r2", job_namespace=le.job_namespace(), job_name="redact.p", runner="local",
            policy={"name": "p", "version": "1", "sha256": "b" * 64},
            source=for_uri("postgresql://u:s3cret-pw@db.internal:6432/crm#sales.customers"),
            outputs={"delivered": for_uri("s3://lake/redacted/customers.parquet")})
        assert emitter.emit(le.start_event(description, "2026-01-02T03:04:05+00:00"))
        emitter.close()
    finally:
        backend.close()
    [(path, headers, body)] = backend.posts
    assert path == "/api/v1/lineage" and headers["authorization"] == "Bearer env-key"
    event = json.loads(body)
    assert validate_event(event) == []
    assert event["inputs"][0]["namespace"] == "postgres://db.internal:6432"
    assert event["inputs"][0]["name"] == "crm.sales.customers"
    assert (event["outputs"][0]["namespace"], event["outputs"][0]["name"]) == ("s3://lake",
                                                                               "redacted/customers.parquet")
    assert b"s3cret" not in body and b"u:" not in body
