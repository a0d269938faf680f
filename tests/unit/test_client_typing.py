"""mypy holds producers and workers to a task's declaration (payload and result types)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

PRELUDE = """
from pydantic import BaseModel
from conveyor import AsyncClient, Client, declare
from conveyor.handlers import Registry, TaskContext

class Email(BaseModel):
    to: str

class Other(BaseModel):
    n: int

class Sent(BaseModel):
    message_id: str

send_email = declare("email.send", payload=Email, result=Sent)
client = Client("redis://localhost")
registry = Registry()
"""

GOOD = """
ref = client.enqueue(send_email, Email(to="a@example.com"))
sent: Sent = ref.result(timeout=1)
refs = client.enqueue_many(send_email, [Email(to="b@example.com")], queue="mail")
more: list[Sent] = [r.result() for r in refs]
loose = client.enqueue("demo.echo", {"any": "json"})

async def produce(aclient: AsyncClient) -> Sent:
    aref = await aclient.enqueue(send_email, Email(to="c@example.com"), delay=5)
    return await aref.result()

@registry.implement(send_email)
async def send(ctx: TaskContext, payload: Email) -> Sent:
    return Sent(message_id=payload.to)
"""

BAD = {
    "wrong payload model": "client.enqueue(send_email, Other(n=1))",
    "result is the declared type": 'x: int = client.enqueue(send_email, Email(to="a")).result()',
    "unknown option": 'client.enqueue(send_email, Email(to="a"), priority=3)',
    "async result is the declared type": (
        "async def produce(a: AsyncClient) -> int:\n"
        '    return await (await a.enqueue(send_email, Email(to="a"))).result()'
    ),
    "worker payload must match": (
        "@registry.implement(send_email)\n"
        "async def wrong_payload(ctx: TaskContext, payload: Other) -> Sent:\n"
        '    return Sent(message_id="x")'
    ),
    "worker result must match": (
        "@registry.implement(send_email)\n"
        "async def wrong_result(ctx: TaskContext, payload: Email) -> Other:\n"
        "    return Other(n=1)"
    ),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for the module: the first run analyses pydantic, the next reuse it."""
    return tmp_path_factory.mktemp("mypy-cache")


def _mypy(folder: Path, cache: Path, name: str, body: str) -> tuple[str, int]:
    source = folder / f"{name}.py"
    source.write_text(PRELUDE + body)
    out, err, status = api.run(
        ["--strict", "--no-error-summary", "--cache-dir", str(cache), str(source)]
    )
    return out + err, status


def test_declared_types_check(tmp_path: Path, cache: Path) -> None:
    out, status = _mypy(tmp_path, cache, "good", GOOD)
    assert status == 0, out


def test_each_misuse_fails_to_type_check(tmp_path: Path, cache: Path) -> None:
    """Every case, in one file: each case's own lines must carry an error."""
    body = ""
    spans: dict[str, range] = {}
    first = PRELUDE.count("\n") + 1
    for case, text in BAD.items():
        start = first + body.count("\n")
        body += text + "\n\n"
        spans[case] = range(start, start + text.count("\n") + 1)
    out, status = _mypy(tmp_path, cache, "bad", body)
    assert status == 1, out
    lines = {int(line.split(":")[1]) for line in out.splitlines() if ": error:" in line}
    missed = [case for case, span in spans.items() if not lines & set(span)]
    assert not missed, f"mypy accepted: {missed}\n{out}"
