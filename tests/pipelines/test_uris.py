"""What ``--source``/``--sink`` URIs look like in logs, lineage and the manifest (``Endpoint.safe``)."""

from __future__ import annotations

import pytest

from redactline.pipelines import uris

SECRET = "s3cr3t-Zebulon"


@pytest.mark.parametrize(
    ("flag", "uri", "shown"),
    [
        ("--source", f"https://api.example.com/items?token={SECRET}&page=2",
         "https://api.example.com/items?token=***&page=***"),
        ("--source", f"https://bob:{SECRET}@api.example.com/items", "https://api.example.com/items"),
        ("--source", f"postgresql://bob:{SECRET}@db:5432/test#public.users",
         "postgresql://bob:***@db:5432/test#public.users"),
        ("--source", f"postgresql://bob@db/test?sslpassword={SECRET}&sslmode=require#t",
         "postgresql://bob@db/test?sslpassword=***&sslmode=***#t"),
        ("--sink", "out/redacted.jsonl", "out/redacted.jsonl"),
    ],
)
def test_safe_uri_masks_passwords_and_query_values(flag: str, uri: str, shown: str) -> None:
    endpoint = uris.parse(flag, uri, allow_http=True)
    assert endpoint.safe == shown
    assert SECRET not in endpoint.safe
