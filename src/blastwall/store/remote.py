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
import collections
import io
import itertools
import os
import pickle
import selectors
import socket
import struct
import threading
from typing import Any

from blastwall.store.base import StoreError, Work

FRAME = struct.Struct("!I")
MAX_FRAME = 64 * 2**20
_SAFE_MODULES = {"datetime": {"datetime", "timedelta", "timezone", "date"}}
_WAKE = object()


class _Unpickler(pickle.Unpickler):
    _allowed: dict[tuple[str, str], Any] = {}       # what was found and allowed (a handful of names)

    def find_class(self, module: str, name: str) -> Any:
        found = self._allowed.get((module, name))
        if found is None:
            found = self._allowed[(module, name)] = self._check(module, name)
        return found

    def _check(self, module: str, name: str) -> Any:
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


def unframe(buf: bytearray, data: bytes):
    """Append ``data`` to ``buf`` and yield the objects of the frames it completes (what is
    left of an incomplete one stays in ``buf``); raises on an oversized or foreign frame."""
    buf += data
    at = 0
    try:
        while len(buf) - at >= FRAME.size:
            (size,) = FRAME.unpack_from(buf, at)
            if size > MAX_FRAME:
                raise pickle.UnpicklingError(f"a frame of {size} bytes")
            if len(buf) - at - FRAME.size < size:
                break
            obj = loads(bytes(buf[at + FRAME.size:at + FRAME.size + size]))
            at += FRAME.size + size
            yield obj
    finally:
        del buf[:at]


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
    """Accepts service processes on ``path`` and commits their works through ``writer`` (a
    GroupCommitWriter: the same batches as this process's own writes).

    The writer's own thread does it all: it waits on the sockets, reads the frames, runs their
    works and sends the answers (without blocking; see _Outbox).  Measured at 2,000 decisions/s,
    handing each frame from a reader thread to the writer thread and each answer on to a sender
    thread cost ~0.1 ms at the median and 2.5 ms at p99 per hand-off: each one waits for the
    GIL and for a core that the workers keep busy."""

    def __init__(self, writer, path: str) -> None:
        self._writer, self.path = writer, path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(path)
        os.chmod(path, 0o600)
        self._sock.listen(64)
        self._sock.setblocking(False)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._wake_lock, self._shut_done = threading.Lock(), False
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._sock, selectors.EVENT_READ, None)
        self._sel.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        self._peers: dict[socket.socket, _Outbox] = {}
        self._ready: collections.deque = collections.deque()     # (work, sink, tag) read, not yet taken
        self._closed = False
        writer.attach(self)

    # called by the writer thread ------------------------------------------------------------
    def poll(self, block: bool, limit: int, timeout: float | None = None) -> list:
        """Up to ``limit`` works read from the peers; waits for one (at most ``timeout`` seconds,
        None: as long as it takes) if ``block`` and none is ready."""
        try:
            if not self._closed and len(self._ready) < limit:
                self._select(timeout if block and not self._ready else 0)
        except Exception:  # noqa: BLE001  a broken selector: stop serving (the workers commit on their own)
            self.close()
        if self._closed:                 # hang up on everyone (works read, not run, are dropped)
            self._writer.detach(self)
            self._shut()
            return []
        ready = self._ready
        return [ready.popleft() for _ in range(min(limit, len(ready)))]

    def _select(self, wait: float | None) -> None:
        for key, events in self._sel.select(wait):
            if key.data is None:
                self._accept()
            elif key.data is _WAKE:
                self._drain_wake()
            else:
                if events & selectors.EVENT_WRITE:
                    key.data.flush()
                if events & selectors.EVENT_READ:
                    self._receive(key.data)

    def _accept(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:                  # out of descriptors, say: stop accepting rather than spin on it
            self._sel.unregister(self._sock)
            return
        conn.setblocking(False)
        outbox = _Outbox(conn, self)
        self._peers[conn] = outbox
        self._sel.register(conn, selectors.EVENT_READ, outbox)

    def _receive(self, outbox: "_Outbox") -> None:
        try:
            data = outbox.conn.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.drop(outbox)
            return
        try:
            for rid, work in outbox.frames(data):
                self._ready.append((work, outbox, rid))
        except Exception:  # noqa: BLE001  a broken or foreign peer (bad frame, bad pickle): drop it
            self.drop(outbox)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def watch_writes(self, outbox: "_Outbox", on: bool) -> None:
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
        try:
            self._sel.modify(outbox.conn, events, outbox)
        except (KeyError, ValueError, OSError):
            self.drop(outbox)

    def drop(self, outbox: "_Outbox") -> None:
        """Hang up on a peer; its works already read still run, their answers go nowhere."""
        if self._peers.pop(outbox.conn, None) is None:
            return
        outbox.dead = True
        try:
            self._sel.unregister(outbox.conn)
        except (KeyError, ValueError):
            pass
        outbox.conn.close()

    def abandon(self) -> None:
        """From the writer thread as it ends: hang up on everyone now (they commit on their own)."""
        self.close()
        self._shut()

    def _shut(self) -> None:
        """Close every socket and the wake pipe, once; never while the writer thread polls them."""
        with self._wake_lock:
            if self._shut_done:
                return
            self._shut_done = True
            for outbox in list(self._peers.values()):
                self.drop(outbox)
            self._sel.close()
            self._sock.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    # any thread -------------------------------------------------------------------------------
    def wake(self) -> None:
        with self._wake_lock:            # never a write to a closed (maybe reused) descriptor
            if not self._shut_done:
                try:
                    os.write(self._wake_w, b"\0")
                except BlockingIOError:  # full: a wake is pending anyway
                    pass

    def close(self) -> None:
        """Stop serving: every peer is hung up on at once, and the path removed."""
        if self._closed:
            return
        self._closed = True
        try:
            os.unlink(self.path)         # no new peer from now on
        except OSError:
            pass
        for conn in list(self._peers):   # the writer thread closes them; their workers see the end now
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.wake()                      # the writer's next poll shuts everything, or its end does
        if not self._writer.running:
            self._shut()


class _Outbox:
    """One peer: its unread input and unsent answers.  Answers are sent without blocking; what the
    peer does not take stays here, so a peer that stops reading never holds up the writer (which
    holds the write lock), and one MAX_QUEUED frames behind is hung up on."""

    MAX_QUEUED = 10_000                     # frames unsent to a peer that stopped reading: drop it

    def __init__(self, conn: socket.socket, server: WriterServer) -> None:
        self.conn, self._server = conn, server
        self.dead = False
        self._watching = False           # for room to write: only while answers wait
        self._buf = bytearray()
        self._unsent: collections.deque = collections.deque()

    def frames(self, data: bytes):
        """The (id, Work) frames ``data`` completes; raises on a bad one."""
        for rid, work in unframe(self._buf, data):
            if not isinstance(work, Work) or type(rid) is not int:
                raise pickle.UnpicklingError("not an (id, Work) frame")
            yield rid, work

    def settled(self, items) -> None:
        self.send([(i.tag, i.error is None, i.result if i.error is None else _portable(i.error)) for i in items])

    def send(self, answers: list) -> None:
        if self.dead:
            return
        try:
            data = frame(answers)
        except Exception as exc:  # noqa: BLE001  a result that does not pickle
            data = frame([(rid, False, StoreError(f"the writer could not return the result: {exc}"))
                          for rid, _, _ in answers])
        if len(self._unsent) >= self.MAX_QUEUED:
            self._server.drop(self)
            return
        self._unsent.append(memoryview(data))
        if len(self._unsent) == 1:
            self.flush()

    def flush(self) -> None:
        """Send what the socket takes now; watch for room when some is left."""
        unsent = self._unsent
        try:
            while unsent:
                n = self.conn.send(unsent[0])
                if n < len(unsent[0]):
                    unsent[0] = unsent[0][n:]
                    break
                unsent.popleft()
        except BlockingIOError:
            pass
        except OSError:                     # the worker is gone; its callers went with it
            self._server.drop(self)
            return
        if bool(unsent) != self._watching:
            self._watching = bool(unsent)
            self._server.watch_writes(self, self._watching)


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
        try:
            for answers in unframe(self._buf, data):
                self._answered(answers)
        except Exception:  # noqa: BLE001  not our writer's answer: stop trusting the connection
            self._transport.close()

    def _answered(self, answers: list) -> None:
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
