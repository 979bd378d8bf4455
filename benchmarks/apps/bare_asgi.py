"""The Python runtime's bare ceiling for peers.py: a plain ASGI callable answering every
request (``/health`` included, which peers.py polls until it is up) with a small JSON
body, under the same uvicorn settings as the server (uvloop/httptools when installed, no
access log). No framework, no middleware: what uvicorn alone costs per request.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"message":"hello"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
