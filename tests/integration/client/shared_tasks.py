"""A task declaration as an application shares it between its web app and its worker."""

from __future__ import annotations

from pydantic import BaseModel

from conveyor import declare


class Greeting(BaseModel):
    """Payload of ``test.greet``."""

    name: str


class Greeted(BaseModel):
    """Result of ``test.greet``."""

    text: str
    length: int


greet = declare("test.greet", payload=Greeting, result=Greeted, max_attempts=2)
