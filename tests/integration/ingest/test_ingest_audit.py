"""One audit line per request: id, subject, action, status, latency; no token, no payload."""

from __future__ import annotations

from structlog.testing import capture_logs

from integration.ingest.ingest_support import Api, auth, make_token


async def test_audit_line_names_the_request_and_never_the_token_or_payload(api: Api) -> None:
    token = make_token(sub="auditor")
    with capture_logs() as logs:
        response = await api.client.post(
            "/api/v1/tasks",
            json={"type": "demo.echo", "payload": {"secret": "s3cr3t"}},
            headers={**auth(token), "X-Request-ID": "req-42"},
        )
        assert response.status == 202
        denied = await api.client.post("/api/v1/tasks", json={"type": "demo.echo"})
        assert denied.status == 401
    lines = [line for line in logs if line["event"] == "request_handled"]
    assert len(lines) == 2
    first = lines[0]
    assert first["request_id"] == "req-42"
    assert first["subject"] == "auditor"
    assert first["action"] == "task.create"
    assert first["status"] == 202
    assert first["latency_ms"] >= 0
    assert lines[1]["status"] == 401
    text = repr(logs)
    assert token not in text
    assert "s3cr3t" not in text
