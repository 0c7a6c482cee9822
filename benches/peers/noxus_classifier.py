"""The text classifier as a Noxus-style plugin process: a FastAPI app under uvicorn (one
process, HTTP/1.1), serving `POST /nodes/{name}/execute` with Noxus's body
`{"ctx": {...}, "inputs": {...}, "config": {...}}` and answering `{"success": true,
"outputs": {...}}`. It prints `PLUGIN_PORT:<n>` once it listens, as Noxus's plugin server
expects of its children. For the benchmark report only (`cargo xtask bench`).

The classifying is the Python guest's own function (guests/python/text-classifier/app.py),
imported with the component's bindings stubbed out, so this row and the Python guest run
the same code.

    python3 benches/peers/noxus_classifier.py [PORT]
"""
import socket
import sys
import types
from pathlib import Path

import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

GUEST = Path(__file__).resolve().parents[2] / "guests" / "python" / "text-classifier"


def _stub_bindings():
    """Stand-ins for the modules componentize-py generates, enough to import app.py."""

    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m

    class Anything:
        def __init__(self, *args, **kwargs):
            pass

        def __getattr__(self, name):
            return Anything()

    module("componentize_py_types", Err=Exception)
    exports = module("wit_world.exports", Tool=object)
    module("wit_world.exports.tool", ToolSpec=Anything)
    imports = module("wit_world.imports", host=Anything(), types=Anything())
    module("wit_world", exports=exports, imports=imports)


_stub_bindings()
sys.path.insert(0, str(GUEST))
from app import classify  # noqa: E402  (after the stubs it needs)

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
    if name != "classify":
        raise HTTPException(status_code=404, detail=f"no node named {name}")
    text = body.inputs.get("text")
    if not isinstance(text, str):
        raise HTTPException(status_code=400, detail="`text` (a string) is required")
    return {"success": True, "outputs": classify(text)}


def main(port: int):
    # Bound and listening before the port is announced.
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP, and with proto 0 every keep-alive answer waited 40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    print(f"PLUGIN_PORT:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
