"""A fast loopback HTTP/1.1 receiver for benchmarks and drills, run as its own process.

It answers by path and records every delivery with the time it arrived:

    /ok/...      200 at once (the healthy receiver)
    /slow/...    200 after SLOW_SECONDS
    /hang/...    reads the request and never answers (until the client gives up)
    /big/...     200 with a 10 MB body
    /reset/...   aborts the connection with a TCP RST
    /fail/...    500 (a failing receiver)

    GET /__log?from=N   the deliveries from index N as JSON: [[time, path, idempotency key, task id], ...]
    GET /__count        how many deliveries so far
    GET /__wait?count=N&timeout=T   answers (with the count) once N deliveries arrived, or after T s:
                        the load clients block here instead of polling, so waiting costs the
                        machine nothing while Flowsite works

asyncio, not threads: one event loop keeps the receiver's own cost per request small, so the figures
measure Flowsite, not the receiver. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import struct
import sys
import time

SLOW_SECONDS = 0.5
BIG_BODY = b"x" * (10 * 1024 * 1024)
TASK_ID = re.compile(rb'"id":\s*(\d+)\s*\}\s*(?:,|\}\s*$)')

log: list[list] = []
arrived: asyncio.Event | None = None  # set (and replaced) whenever a delivery arrives


def _record(entry: list) -> None:
    global arrived
    log.append(entry)
    if arrived is not None:
        arrived.set()
    arrived = asyncio.Event()


async def _wait_count(count: int, timeout: float) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(log) < count and loop.time() < deadline:
        event = arrived
        try:
            await asyncio.wait_for(event.wait(), deadline - loop.time())
        except TimeoutError:
            break
    return len(log)


def _task_id(body: bytes) -> int | None:
    # The task JSON ends with its id ("...,"id":123}"); the last match is the task's.
    matches = TASK_ID.findall(body)
    return int(matches[-1]) if matches else None


async def _reply(writer, status: int, body: bytes = b"", content_type: str = "application/json") -> None:
    reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}.get(status, "OK")
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            received = time.time()
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length") or 0))
            if target.startswith("/__count"):
                await _reply(writer, 200, str(len(log)).encode())
                continue
            if target.startswith("/__wait"):
                query = dict(part.split("=", 1) for part in target.partition("?")[2].split("&") if "=" in part)
                got = await _wait_count(int(query.get("count", 0)), float(query.get("timeout", 10)))
                await _reply(writer, 200, str(got).encode())
                continue
            if target.startswith("/__log"):
                start = int(target.partition("from=")[2] or 0)
                await _reply(writer, 200, json.dumps(log[start:]).encode())
                continue
            if target.startswith("/__clear"):
                log.clear()
                await _reply(writer, 200, b"{}")
                continue
            _record([received, target, headers.get("idempotency-key", ""), _task_id(body)])
            kind = target.split("/", 2)[1] if target.count("/") >= 1 else ""
            if kind == "hang":
                await reader.read()  # until the client closes
                return
            if kind == "reset":
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            if kind == "slow":
                await asyncio.sleep(SLOW_SECONDS)
            if kind == "big":
                await _reply(writer, 200, BIG_BODY, "text/plain")
            elif kind == "fail":
                await _reply(writer, 500, b'{"error": "failing on purpose"}')
            else:
                await _reply(writer, 200, b"{}")
            if headers.get("connection", "").lower() == "close":
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def serve(port: int, ready_file: str | None) -> None:
    global arrived
    arrived = asyncio.Event()
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    if ready_file:
        with open(ready_file, "w") as f:
            f.write(str(bound))
    print(bound, flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file")
    args = parser.parse_args()
    try:
        import uvloop  # optional

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(args.port, args.ready_file))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
