"""Latency of MCP requests to `plinth mcp FILE.wasm` over stdio, from a minimal JSON-RPC
client (one line per message, buffered reads), so the numbers are the server's and the
pipe's, not an SDK's.

    python3 tests/peers/mcp_latency.py target/release/plinth target/guests/text_classifier.wasm [N]

Prints the median and p99 of `ping`, `tools/list` and `tools/call` (the classifier on a
100-byte text). Compare `tools/call` with the benchmark report's in-process warm call.
"""

import json
import subprocess
import sys
import time


def main() -> None:
    plinth, wasm = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    proc = subprocess.Popen([plinth, "mcp", wasm], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=1 << 16)
    ids = iter(range(1, 1 << 62))

    def send(method: str, params: dict | None = None, notify: bool = False) -> dict | None:
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        if not notify:
            msg["id"] = next(ids)
        proc.stdin.write(json.dumps(msg).encode() + b"\n")
        proc.stdin.flush()
        if notify:
            return None
        while True:  # skip notifications the server sends meanwhile
            reply = json.loads(proc.stdout.readline())
            if reply.get("id") == msg["id"]:
                if "error" in reply:
                    raise SystemExit(f"{method}: {reply['error']}")
                return reply["result"]

    send("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": {"name": "mcp-latency", "version": "0"}})
    send("notifications/initialized", notify=True)
    text = ("Your order has shipped, thanks for the payment received! " * 2)[:100]
    call = {"name": "classify", "arguments": {"text": text}}
    assert not send("tools/call", call).get("isError"), "the classifier failed"

    def timed(method: str, params: dict | None) -> list[float]:
        out = []
        for _ in range(n):
            t = time.perf_counter()
            send(method, params)
            out.append(time.perf_counter() - t)
        out.sort()
        return out

    for method, params in [("ping", None), ("tools/list", None), ("tools/call", call)]:
        for _ in range(n // 10):  # warm-up
            send(method, params)
        ts = timed(method, params)
        print(f"{method:11} median {ts[len(ts) // 2] * 1e6:7.1f} us   p99 {ts[int(len(ts) * 0.99)] * 1e6:7.1f} us   (n={n})")
    proc.stdin.close()
    proc.wait(timeout=10)


if __name__ == "__main__":
    main()
