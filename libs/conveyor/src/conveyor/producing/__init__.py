"""The one write path of tasks: plain functions over plain values.

Ingest's routes (which only parse and answer) and the direct Redis client both
build tasks, route them to partitions, apply idempotency keys and write, change,
cancel and replay through these functions and the library's Lua scripts, so the
two cannot drift.

- ``tasks``: new tasks (envelope, due time), idempotency keys, partition routing.
- ``writes``: the enqueue and change script calls and their replies.
- ``replay``: a dead letter as a new task.
"""
