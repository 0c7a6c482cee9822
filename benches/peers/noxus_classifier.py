"""The text classifier as a Noxus-style plugin process: a FastAPI app under uvicorn (one
process, HTTP/1.1), serving `POST /nodes/{name}/execute` with Noxus's body
`{"ctx": {...}, "inputs": {...}, "config": {...}}` and answering `{"success": true,
"outputs": {...}}`. It prints `PLUGIN_PORT:<n>` once it listens, as Noxus's plugin server
expects of its children. For the benchmark report only (`cargo xtask bench`).

The classifying is the Python guest's own `Tool.call` (guests/python/text-classifier/app.py:
JSON text in, JSON text out), imported with the component's bindings stubbed out, so this
row and the Python guest run the same code.

    python3 benches/peers/noxus_classifier.py [PORT]
"""
import json
import socket
import sys
import types
from pathlib import Path

import uvicorn
from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel

GUEST = Path(__file__).resolve().parents[2] / "guests" / "python" / "text-classifier"


class Err(Exception):
    """componentize-py's `Err`: the error side of the WIT result."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


class _Case:
    status = 500

    def __init__(self, value=None):
        self.value = value


class NotFound(_Case):
    status = 404


class InvalidInput(_Case):
    status = 400


def _stub_bindings():
    """Stand-ins for the modules componentize-py generates, enough to run app.py's `Tool`:
    `host.log` does nothing, the error cases carry an HTTP status."""

    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m

    levels = types.SimpleNamespace(TRACE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4)
    wit_types = types.SimpleNamespace(
        Level=levels,
        CallContext=object,
        PluginError_NotFound=NotFound,
        PluginError_InvalidInput=InvalidInput,
        PluginError_Failed=_Case,
    )
    host = types.SimpleNamespace(log=lambda level, message: None)
    module("componentize_py_types", Err=Err)
    exports = module("wit_world.exports", Tool=object)
    module("wit_world.exports.tool", ToolSpec=dict)
    imports = module("wit_world.imports", host=host, types=wit_types)
    module("wit_world", exports=exports, imports=imports)


_stub_bindings()
sys.path.insert(0, str(GUEST))
from app import Tool  # noqa: E402  (after the stubs it needs)

GUEST_TOOL = Tool()
app = FastAPI()


class Execute(BaseModel):
    ctx: dict = {}
    inputs: dict = {}
    config: dict = {}


@app.get("/health")
async def health():
    return {"status": "healthy", "plugin": "text-classifier"}


@app.post("/nodes/{name}/execute")
async def execute(name: str, body: Execute):
    # The guest's own entry point, as the component runs it: JSON text in, JSON text out.
    try:
        outputs = GUEST_TOOL.call(name, None, json.dumps(body.inputs))
    except Err as e:
        raise HTTPException(status_code=getattr(e.value, "status", 500), detail=str(getattr(e.value, "value", e.value)))
    return Response(content='{"success":true,"outputs":' + outputs + "}", media_type="application/json")


def main(port: int):
    # Bound and listening before the port is announced.
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP, and with proto 0 every keep-alive answer waited 40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    print(f"PLUGIN_PORT:{sock.getsockname()[1]}", flush=True)
    # Keep-alive longer than a benchmark round: uvicorn's default 5 s would close a client's
    # idle connection between its slices, and the next call would reconnect while timed.
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=300)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
