"""Progress from Beam metrics (the same PCollections the manifest counts, each record once) and failure
lines that name what could not be reached or the failing step, never a value."""

from __future__ import annotations

import io

import apache_beam as beam
import grpc
from apache_beam.options.pipeline_options import PipelineOptions

from redactline.connectors.records import RecordMeta, Rejected
from redactline.pipelines import failures, progress
from redactline.pipelines.progress import Progress, Tally


def _outcomes(p: beam.Pipeline) -> dict:
    quarantined = p | "Q" >> beam.Create([Rejected("parse_error", "line 3", RecordMeta("f", "line 3"))] * 2)
    return {
        "read": (p | "R1" >> beam.Create(range(4)), p | "R2" >> beam.Create(range(2))),
        "delivered": p | "D" >> beam.Create(range(3)),
        "held": p | "H" >> beam.Create([{"_redactline": {"held": {"reason": "no_rule"}}}]),
        "quarantined": quarantined,
        "entities": p | "E" >> beam.Create([("PERSON", 2)]),
    }


def test_counts_come_from_the_jobs_beam_metrics_when_the_dofns_run_elsewhere(beam_pipeline):
    p = beam_pipeline()
    _outcomes(p) | Tally()
    result = p.run()
    result.wait_until_finish()
    progress.reset()  # what a driver whose workers are other processes sees: no local counts
    shown = Progress(enabled=False, counts_visible=False)
    assert shown.counts() is None  # before follow: elapsed time only
    shown.follow(result)
    assert shown.counts() == {"read": 6, "redacted": 0, "delivered": 3, "held": 1, "quarantined": 2}
    assert "6 read, 0 redacted, 3 delivered, 1 held, 2 quarantined" in shown.line()


def test_in_process_counts_each_record_once():
    stream = io.StringIO()
    with Progress(enabled=True, stream=stream, interval=60) as shown:
        progress.note(processed=2)  # the redact stage: records redacted
        progress.note(quarantined=1)  # an old caller's count is not a second quarantine count
        progress._tally("quarantined:engine_error")  # the Tally on the quarantine PCollection
        assert shown.counts() == {"read": 0, "redacted": 2, "delivered": 0, "held": 0, "quarantined": 1}


def test_an_unreachable_job_service_is_named_with_its_flag():
    options = PipelineOptions(["--runner", "PortableRunner", "--job_endpoint", "user:pw@jobs.example:8099",
                               "--job_server_timeout", "3"])
    line = failures.summary(grpc.FutureTimeoutError(), options)
    assert line == ("could not reach the job service at jobs.example:8099 (--job_endpoint): no answer within "
                    "3s (--job_server_timeout)")


def test_a_failing_step_is_named_and_its_message_withheld():
    exc = ValueError("invalid literal 'Jane Doe' [while running 'Sink/Write/Upsert']")
    assert failures.summary(exc) == "ValueError in step 'Sink/Write/Upsert'"
    from redactline.connectors.postgres import PostgresError

    ours = PostgresError("upserting into postgresql://h:5432/db#t: UniqueViolation [23505] "
                         "[while running 'Sink/Write/Upsert']")
    assert failures.summary(ours) == ("PostgresError in step 'Sink/Write/Upsert': upserting into "
                                      "postgresql://h:5432/db#t: UniqueViolation [23505]")
