"""deploy/redis/users.acl read as data: least privilege, and key patterns that match keys.py.

Every key builder of ``conveyor.keys`` is called; each key is classified by its
owner segment (``:i:`` ingest, ``:s:`` scheduler, ``:w:`` worker) or stream
name, and the users whose patterns match it must be exactly its owner (owned
keys) or exactly the services the wire format says use it (streams). A new key
builder of an unknown kind fails here until the ACL file accounts for it.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from conveyor.keys import Keys, QueueKeys

ROOT = Path(__file__).resolve().parents[2]
ACL = ROOT / "deploy" / "redis" / "users.acl"
RENDER = ROOT / "deploy" / "redis" / "render-acl.sh"
SERVICES = ("ingest", "scheduler", "worker")
OWNERS = {"i": "ingest", "s": "scheduler", "w": "worker"}
# stream -> users that may write (XADD, or XREADGROUP/XACK as a consumer): docs/wire-format.md,
# plus the scheduler's events (pending/scheduled) and dead letters (malformed timer entries).
# The direct client's producer user writes new tasks, delayed tasks and cancels/changes.
STREAM_WRITERS = {
    "tasks": {"ingest", "scheduler", "worker", "producer"},
    "events": {"ingest", "scheduler", "worker"},
    "timers-in": {"ingest", "scheduler", "worker", "producer"},
    "dead": {"ingest", "scheduler", "worker"},
    "control": {"ingest", "scheduler", "worker", "producer"},
    "changes": {"ingest", "scheduler"},
    "applied": {"ingest", "scheduler"},
    "limits": {"ingest"},
}
STREAM_READERS = {"tasks": {"keda"}, "limits": {"worker"}}  # read-only on top of the writers
# Owned keys another service reads (read-only), by the two segments after the hash tag:
# ingest lists the workers' heartbeats; workers read which queues ingest paused.
OWNED_READERS = {"w:worker": {"ingest"}, "w:workers": {"ingest"}, "i:paused": {"worker"}}
# Ingest-owned keys the producer's enqueue/change scripts write in the same atomic step
# (the read model's index, accepted buckets and records, idempotency and workflow records).
PRODUCER_SHARES = {"tasks", "accepted", "task", "idem", "workflow"}
FORBIDDEN_RULES = {
    "+@all", "allcommands", "+@dangerous", "+@admin", "allkeys", "~*", "%RW~*", "%R~*",
    "allchannels", "&*", "nopass", "+keys", "+flushall", "+flushdb", "+config", "+scan",
    "+debug", "+monitor", "+shutdown", "+acl", "+@keyspace", "+@pubsub",
}  # fmt: skip


@dataclass(frozen=True)
class User:
    """One ``user`` line of the ACL file."""

    name: str
    rules: list[str]

    def patterns(self, mode: str) -> list[str]:
        """Key patterns granting ``mode`` ('R' or 'W')."""
        found = []
        for rule in self.rules:
            match = re.fullmatch(r"%(R|W|RW)~(.+)", rule)
            if match and mode in match.group(1):
                found.append(match.group(2))
            elif rule.startswith("~"):
                found.append(rule[1:])
        return found

    def can(self, mode: str, key: str) -> bool:
        """Whether a pattern of this user grants ``mode`` on ``key`` (Redis glob rules)."""
        return any(glob_match(pattern, key) for pattern in self.patterns(mode))


def glob_match(pattern: str, key: str) -> bool:
    """Redis key glob with the features the ACL file uses: '*', '?', literals."""
    assert not set(pattern) & set("[]\\"), f"extend glob_match for {pattern!r}"
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, key, re.DOTALL) is not None


def parse(text: str) -> dict[str, User]:
    """Users of an ACL file (comment lines allowed: the template has them)."""
    users = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        words = line.split()
        assert words[0] == "user", line
        users[words[1]] = User(words[1], words[2:])
    return users


USERS = parse(ACL.read_text())


def all_keys() -> list[str]:
    """One key from every key builder of keys.py, for two queues (one of 3 partitions)."""
    keys = Keys(prefix="conveyor", queues=("default", "emails"), partitions=(("emails", 3),))
    built = [_call_all(keys)]
    built += [_call_all(queue) for queue in keys.all_queues()]
    return [key for group in built for key in group]


def _call_all(obj: Keys | QueueKeys) -> list[str]:
    found = []
    for name, member in inspect.getmembers(type(obj)):
        if name.startswith("_") or name in ("tag", "queue", "all_queues", "shard", "at_level"):
            continue
        if name == "dataset_identity":  # one key per service (its argument names the owner)
            found += [member(obj, service) for service in SERVICES]
            continue
        if isinstance(member, property):
            value = getattr(obj, name)
        elif inspect.isfunction(member):
            params = list(inspect.signature(member).parameters.values())[1:]
            value = member(obj, *[1 if p.annotation in (int, "int") else "x" for p in params])
        else:
            continue
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, tuple):  # e.g. the task streams of every priority level
            found += [item for item in value if isinstance(item, str)]
    return found


def classify(key: str) -> tuple[str, str]:
    """('owned', service) or ('stream', name) from the segment after the hash tag."""
    rest = key.split("}:", 1)[1]
    head = rest.split(":", 1)[0]
    if head in OWNERS and ":" in rest:
        return "owned", OWNERS[head]
    assert head in STREAM_WRITERS, f"{key}: unknown key kind: update users.acl and this test"
    return "stream", head


def test_default_user_is_off_and_each_service_has_one_user() -> None:
    assert USERS["default"].rules[0] == "off"
    assert "-@all" in USERS["default"].rules
    others = {"default", "conveyor-keda", "conveyor-producer"}
    assert set(USERS) == others | {f"conveyor-{s}" for s in SERVICES}


@pytest.mark.parametrize("name", [n for n in USERS if n != "default"])
def test_user_is_least_privileged(name: str) -> None:
    rules = USERS[name].rules
    assert rules[0] == "on"
    passwords = [r for r in rules if r.startswith(("#", ">", "<", "!"))]
    assert passwords == [f"#__{name.removeprefix('conveyor-').upper()}_SHA256__"]
    assert "resetkeys" in rules
    assert "resetchannels" in rules
    commands = [r for r in rules if r[0] in "+-"]
    assert commands[0] == "-@all"
    if any(r.startswith("+@") for r in commands):
        assert commands[-1] == "-@dangerous"  # categories never bring dangerous commands in
    assert not FORBIDDEN_RULES & set(rules)


KEYS = all_keys()


@pytest.mark.parametrize("key", KEYS)
def test_key_is_reachable_exactly_by_its_users(key: str) -> None:
    kind, name = classify(key)
    writers = {n.removeprefix("conveyor-") for n, u in USERS.items() if u.can("W", key)}
    readers = {n.removeprefix("conveyor-") for n, u in USERS.items() if u.can("R", key)}
    if (
        kind == "owned"
        and name == "ingest"
        and key.split("}:i:")[1].split(":")[0] in PRODUCER_SHARES
    ):
        assert writers == readers == {"ingest", "producer"}
    elif kind == "owned":
        assert writers == {name}
        assert readers == {name} | OWNED_READERS.get(_owned_kind(key), set())
    else:
        assert writers == STREAM_WRITERS[name]
        assert readers == STREAM_WRITERS[name] | STREAM_READERS.get(name, set())


def _owned_kind(key: str) -> str:
    """``<owner>:<name>`` of an owned key, e.g. ``w:workers``."""
    return ":".join(key.split("}:", 1)[1].split(":", 2)[:2])


def test_every_key_kind_is_covered() -> None:
    kinds = {classify(key) for key in KEYS}
    assert {("owned", s) for s in SERVICES} <= kinds
    assert {("stream", s) for s in STREAM_WRITERS} <= kinds


def _digests(**overrides: str) -> dict[str, str]:
    env = {
        f"{u}_SHA256": hashlib.sha256(u.encode()).hexdigest()
        for u in ("INGEST", "SCHEDULER", "WORKER", "KEDA")
    }
    return env | overrides | {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def _render(env: dict[str, str], out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argument list of a file in this repository
        ["/bin/sh", str(RENDER), str(ACL), str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_render_fills_digests_and_drops_comments(tmp_path: Path) -> None:
    out = tmp_path / "users.acl"
    assert _render(_digests(), out).returncode == 0
    text = out.read_text()
    assert "__" not in text
    assert all(line.startswith("user ") for line in text.splitlines())
    assert f"#{hashlib.sha256(b'WORKER').hexdigest()}" in parse(text)["conveyor-worker"].rules
    assert out.stat().st_mode & 0o077 == 0


BAD_DIGESTS = ["", "x" * 64, "A" * 64, "0" * 63, "0" * 65, "0" * 64 + " nopass"]
BAD_PREFIXES = ["-x", "a b", "a/b", "a*", "a{b}", "a:b"]


def test_render_keeps_the_producer_only_with_its_digest(tmp_path: Path) -> None:
    out = tmp_path / "users.acl"
    assert _render(_digests(), out).returncode == 0
    assert "conveyor-producer" not in parse(out.read_text())
    digest = hashlib.sha256(b"PRODUCER").hexdigest()
    assert _render(_digests(PRODUCER_SHA256=digest), out).returncode == 0
    assert f"#{digest}" in parse(out.read_text())["conveyor-producer"].rules
    assert _render(_digests(PRODUCER_SHA256="x" * 64), out).returncode == 2


@pytest.mark.parametrize(
    ("variable", "bad"),
    [("WORKER_SHA256", bad) for bad in BAD_DIGESTS] + [("KEY_PREFIX", bad) for bad in BAD_PREFIXES],
    ids=repr,
)
def test_render_refuses_a_malformed_value(tmp_path: Path, variable: str, bad: str) -> None:
    out = tmp_path / "users.acl"
    result = _render(_digests(**{variable: bad}), out)
    assert result.returncode == 2
    assert variable in result.stderr
    assert not out.exists()


def test_render_writes_the_key_patterns_for_the_deployment_prefix(tmp_path: Path) -> None:
    out = tmp_path / "users.acl"
    assert _render(_digests(KEY_PREFIX="acme-prod"), out).returncode == 0
    users = parse(out.read_text())
    patterns = [rule for user in users.values() for rule in user.rules if "~" in rule]
    assert patterns
    assert all(rule.split("~", 1)[1].startswith("acme-prod:") for rule in patterns), patterns
