"""A remote plugin in the shape of Orch8's Python example: a FastAPI (ASGI) app, served over
h2c by hypercorn. One JSON envelope in, the step's output out. Written for Plinth's tests;
the HTTP/2 server is hypercorn's, not Plinth's.

    python3 tests/peers/fastapi_plugin.py [PORT]
"""
import asyncio
import socket
import sys

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from hypercorn.asyncio import serve
from hypercorn.config import Config

app = FastAPI()


# Orch8 posts to the path after the address verbatim, dot included: `/Scoring.Score`.
@app.post("/Scoring.Score")
async def score(request: Request):
    envelope = await request.json()
    params = envelope.get("params") or {}
    text = str(params.get("text", ""))
    return JSONResponse({
        "score": len(text),
        "params": params,
        "block_id": envelope.get("block_id"),
        "attempt": envelope.get("attempt"),
        "context": envelope.get("context"),
        "http_version": request.scope.get("http_version"),
        "served_by": "fastapi-hypercorn",
    })


@app.post("/Scoring.Fail")
async def fail(request: Request):
    # Read the request first: hypercorn's HTTP/2 stream is gone once it has answered, and
    # request data arriving after that makes it log a KeyError.
    await request.body()
    return JSONResponse({"error": "model not loaded"}, status_code=503)


async def main(port: int):
    # The socket is bound and listening before the port is announced; hypercorn serves it
    # (`fd://`), answering h2c prior knowledge on a plain socket as Orch8's client speaks it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.set_inheritable(True)
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    await serve(app, config)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
