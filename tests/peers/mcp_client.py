"""An MCP client Plinth did not write (the official Python SDK, `mcp` on PyPI) driving
`plinth mcp` over stdio or `plinth serve`'s /mcp over streamable HTTP.

    mcp_client.py stdio MODE ERRLOG PLINTH [ARGS...]    (PLINTH_HOME from the environment)
    mcp_client.py http MODE URL TOKEN

SCENARIO=list only lists the tools (and with CALL=NAME calls that one); TENANT=T
sends X-Tenant-Id. MODE is the SDK's connect mode: `auto` (server/discover, the current revision) or
`legacy` (the initialize handshake). Runs one scenario and prints one JSON report on
stdout: the tools listed, then each call's outcome. With INSTALL_DIR in the environment
(stdio), it installs that plugin mid-session and waits for `tools/list_changed`.
"""

import json
import os
import subprocess
import sys
import time

import anyio
import httpx2
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

SPAM = {"text": "Buy now! Limited offer!"}


def outcome(result, started):
    text = "".join(getattr(c, "text", "") for c in result.content)
    return {
        "is_error": bool(result.is_error),
        "structured": result.structured_content,
        "text": text,
        "seconds": round(time.monotonic() - started, 3),
    }


async def call(client, name, args=None, **kw):
    started = time.monotonic()
    try:
        return outcome(await client.call_tool(name, args or {}, **kw), started)
    except MCPError as e:
        return {"protocol_error": e.error.code, "message": e.error.message, "seconds": round(time.monotonic() - started, 3)}
    except Exception as e:  # a timeout: the SDK sent notifications/cancelled
        return {"abandoned": type(e).__name__, "seconds": round(time.monotonic() - started, 3)}


async def scenario(client, report, changed):
    tools = (await client.list_tools()).tools
    report["protocol_version"] = client.session.protocol_version
    report["tools"] = {t.name: {"title": t.title, "output_schema": t.output_schema is not None} for t in tools}
    if os.environ.get("SCENARIO") == "list":
        if os.environ.get("CALL"):
            report["call"] = await call(client, os.environ["CALL"])
        return
    report["classify"] = await call(client, "classify", SPAM)
    loops = sorted(t.name for t in tools if t.name.endswith("loop"))
    report["loops"] = loops
    # The short-deadline loop: isError within its deadline; the server keeps serving.
    report["loop"] = await call(client, loops[0])
    report["unknown"] = await call(client, "no-such-tool")
    report["bad_input"] = await call(client, "classify", {"txt": 1})
    # The long-deadline loop, abandoned after 0.5 s: the SDK cancels it.
    report["cancel"] = await call(client, loops[-1], read_timeout_seconds=0.5)
    report["after"] = await call(client, "classify", SPAM)
    install = os.environ.get("INSTALL_DIR")
    if install:
        def do_install():
            tenant = ["--tenant", os.environ["INSTALL_TENANT"]] if os.environ.get("INSTALL_TENANT") else []
            out = subprocess.run([os.environ["PLINTH"], "plugin", "install", install, "--yes", *tenant], capture_output=True, text=True)
            report["install_exit"] = out.returncode

        if report["protocol_version"] >= "2026-07-28":
            # The current revision: a subscription (subscriptions/listen) carries the change.
            async with client.listen(tools_list_changed=True) as sub:
                do_install()
                with anyio.move_on_after(20):
                    async for _event in sub:
                        changed.set()
                        break
        else:
            do_install()
            with anyio.move_on_after(20):
                await changed.wait()
        report["list_changed"] = changed.is_set()
        report["tools_after"] = sorted(t.name for t in (await client.list_tools(cache_mode="refresh")).tools)
        report["echo"] = await call(client, "echo", {"said": "hi"})


async def main():
    kind, mode = sys.argv[1], sys.argv[2]
    report = {}
    changed = anyio.Event()

    async def on_message(message):
        if getattr(getattr(message, "root", message), "method", None) == "notifications/tools/list_changed":
            changed.set()
        elif "ToolListChanged" in type(message).__name__ or "tools/list_changed" in repr(message)[:200]:
            changed.set()

    if kind == "stdio":
        errlog = open(sys.argv[3], "w")
        os.environ["PLINTH"] = sys.argv[4]
        params = StdioServerParameters(command=sys.argv[4], args=sys.argv[5:], env=dict(os.environ))
        async with Client(stdio_client(params, errlog=errlog), mode=mode, message_handler=on_message, cache=None) as client:
            await scenario(client, report, changed)
    else:
        url, token = sys.argv[3], sys.argv[4]
        headers = {"authorization": f"Bearer {token}"}
        if os.environ.get("TENANT"):
            headers["x-tenant-id"] = os.environ["TENANT"]
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http), mode=mode, message_handler=on_message, cache=None) as client:
                await scenario(client, report, changed)
    print(json.dumps(report))


if __name__ == "__main__":
    anyio.run(main)
