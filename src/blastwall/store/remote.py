"""One writer for several service processes (`blastwall serve --workers N`).

Each worker decides on its own core, but commits through the parent's group-commit
writer: workers send ``Work`` (a module-level function and plain arguments) over a
Unix socket, the parent runs every worker's work in the same batches, and answers
each batch with one frame per worker.  Without this the workers' writers take turns
on SQLite's one write lock, each slowed by its own process's event loop (they share
a GIL), and the lock, not the CPU, caps the rate.

Frames: a 4-byte big-endian length, then a pickle: ``(id, work)`` to the writer,
``[(id, ok, result or exception), ...]`` back.  The socket lives in a directory only
its user can enter, and both ends unpickle only blastwall's own classes and
functions, plain containers and datetimes.

If the writer process is gone, works in flight fail with StoreError (their outcome
is unknown: nothing was acknowledged) and later works are committed by the
worker's own writer, as without ``--workers``.
"""
from __future__ import annotations

import asyncio
import io
import itertools
import os
import pickle
import queue
import socket
import struct
import threading
from typing import Any

from blastwall.store.base import StoreError, Work

FRAME = struct.Struct("!I")
MAX_FRAME = 64 * 2**20
_SAFE_MODULES = {"datetime": {"datetime", "timedelta", "timezone", "date"}}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if "." not in name and name in _SAFE_MODULES.get(module, ()):
            return super().find_class(module, name)
        if module.startswith("blastwall.") and "." not in name:
            obj = super().find_class(module, name)
            if isinstance(obj, type) or callable(obj):
                if getattr(obj, "__module__", "").startswith("blastwall."):
                    return obj
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def loads(data: bytes) -> Any:
    return _Unpickler(io.BytesIO(data)).load()


def frame(obj: Any) -> bytes:
    body = pickle.dumps(obj, protocol=5)
    return FRAME.pack(len(body)) + body


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if the other end can rebuild it, else a StoreError saying what it was."""
    if type(exc).__module__.startswith("blastwall."):
        try:
            loads(pickle.dumps(exc, protocol=5))
            return exc
        except Exception:  # noqa: BLE001
            pass
    return StoreError(f"the writer process failed: {type(exc).__name__}: {exc}")


# the writer process -----------------------------------------------------------------------
class WriterServer:
    """Accepts service processes on ``path`` and commits their works through ``writer``
    (a GroupCommitWriter: the same batches as this process's own writes)."""

    def __init__(self, writer, path: str) -> None:
        self._writer, self.path = writer, path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(path)
        os.chmod(path, 0o600)
        self._sock.listen(64)
        self._closed = False
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, name="blastwall-writer-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), name="blastwall-writer-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        outbox = _Outbox(conn)
        reader = conn.makefile("rb", buffering=1 << 16)
        try:
            while True:
                head = reader.read(FRAME.size)
                if len(head) < FRAME.size:
                    return
                (size,) = FRAME.unpack(head)
                if size > MAX_FRAME:
                    return
                body = reader.read(size)
                if len(body) < size:
                    return
                rid, work = loads(body)
                if not isinstance(work, Work) or type(rid) is not int:
                    raise pickle.UnpicklingError("not an (id, Work) frame")
                try:
                    self._writer.submit_to(work, outbox, rid)
                except StoreError as exc:
                    outbox.send([(rid, False, exc)])
        except Exception:  # noqa: BLE001  a broken or foreign peer (bad frame, bad pickle): drop it
            return
        finally:
            outbox.close()
            reader.close()
            conn.close()

    def close(self) -> None:
        self._closed = True
        self._sock.close()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            os.unlink(self.path)
        except OSError:
            pass


class _Outbox:
    """Where one connection's settled works go: one frame per batch, sent by this connection's own
    thread, so a peer that stops reading never holds up the writer (which holds the write lock)."""

    MAX_QUEUED = 10_000                     # frames unsent to a peer that stopped reading: drop it

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._frames: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._send_loop, name="blastwall-writer-send", daemon=True).start()

    def settled(self, items) -> None:
        self.send([(i.tag, i.error is None, i.result if i.error is None else _portable(i.error)) for i in items])

    def send(self, answers: list) -> None:
        try:
            data = frame(answers)
        except Exception as exc:  # noqa: BLE001  a result that does not pickle
            data = frame([(rid, False, StoreError(f"the writer could not return the result: {exc}"))
                          for rid, _, _ in answers])
        if self._frames.qsize() >= self.MAX_QUEUED:
            self.close()
            return
        self._frames.put(data)

    def close(self) -> None:
        try:
            self._conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._frames.put(None)

    def _send_loop(self) -> None:
        while (data := self._frames.get()) is not None:
            try:
                self._conn.sendall(data)
            except OSError:
                return                              # the worker is gone; its callers went with it


# a service process ----------------------------------------------------------------------------
class Unreachable(Exception):
    """Nothing was sent: the caller may commit the work itself."""


class RemoteWriter:
    """This process's connection to the writer process (one per event loop that uses it)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.broken = False
        self._client: _Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None

    async def submit(self, work: Work) -> Any:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:                     # a new loop (tests run several): a new connection
            self._client, self._loop, self._opening = None, loop, asyncio.Lock()
        client = self._client if self._client is not None and not self.broken else await self._open()
        return await client.call(work)

    async def _open(self) -> "_Client":
        async with self._opening:
            if self._client is None and not self.broken:
                try:
                    _, self._client = await asyncio.get_running_loop().create_unix_connection(
                        lambda: _Client(self), self.path)
                except OSError:
                    self.broken = True
            if self.broken or self._client is None:
                raise Unreachable(self.path)
            return self._client


class _Client(asyncio.Protocol):
    def __init__(self, owner: RemoteWriter) -> None:
        self._owner = owner
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []        # frames sent together once this turn of the loop is over

    def connection_made(self, transport) -> None:
        self._transport = transport

    async def call(self, work: Work) -> Any:
        if self._owner.broken:
            raise Unreachable(self._owner.path)
        rid = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        try:
            data = frame((rid, work))
        except Exception as exc:  # noqa: BLE001  a work that cannot be pickled: commit it locally
            raise Unreachable(f"cannot send {work!r}: {exc}") from None
        self._waiting[rid] = future
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(data)
        return await future

    def _flush(self) -> None:
        out, self._out = self._out, []
        if not self._transport.is_closing():
            self._transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while len(buf) >= FRAME.size:
            (size,) = FRAME.unpack_from(buf)
            if len(buf) < FRAME.size + size:
                return
            try:
                answers = loads(bytes(buf[FRAME.size:FRAME.size + size]))
            except Exception:  # noqa: BLE001  not our writer's answer: stop trusting the connection
                self._transport.close()
                return
            del buf[:FRAME.size + size]
            for rid, ok, value in answers:
                future = self._waiting.pop(rid, None)
                if future is None or future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def connection_lost(self, exc) -> None:
        if self._owner._client is self:               # not an old loop's connection
            self._owner.broken = True
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(StoreError("the writer process went away before confirming this write; "
                                                "it may or may not be recorded"))
