"""Group commit: one writer thread per store turns many callers' work into one transaction.

Callers enqueue ``work`` and block.  The writer takes everything queued, begins one
write transaction (and locks the audit chain head), runs each work in its own
savepoint, commits once, then wakes every caller with its result or exception.  A
failed BEGIN or COMMIT fails the whole batch with StoreError: nothing is acknowledged
that is not durable.  One durable commit (one fsync) per batch, not per record.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Callable

from blastwall.store.base import StoreError
from blastwall.store.sql import Dialect, SqlTx, lock_head

_STOP = object()
_WAKE = object()                         # wakes a writer blocked on its queue (a source was attached)
_MARKS = (_STOP, _WAKE)
log = logging.getLogger("blastwall.store")


class _Upkeep:
    """A work the writer adds to a batch every ``every`` seconds, and, with ``wake_every``, runs on
    its own when no batch came for that long (after ``every`` while ``more(result)`` says a backlog
    is waiting).  Nobody waits for it: as the sink of its runs it reports a failure (once while the
    same failure lasts); the work is tried again when next due."""

    def __init__(self, work, every: float, wake_every: float | None, now: float,
                 more: Callable[[Any], bool] | None = None) -> None:
        self.work, self.every, self.wake_every, self.more = work, every, wake_every, more
        self.due = now + every
        self.name = getattr(work, "__name__", type(work).__name__)
        self.last = ""
        self.backlog = False

    def take(self, now: float) -> "_Pending | None":
        if now < self.due:
            return None
        self.due = now + self.every
        return _Pending(self.work, sink=self)

    def wake_at(self) -> float | None:
        if self.backlog:
            return self.due
        return None if self.wake_every is None else self.due - self.every + self.wake_every

    def settled(self, items) -> None:
        for item in items:
            problem = "" if item.error is None else f"{type(item.error).__name__}: {item.error}"
            if problem and problem != self.last:
                log.warning("blastwall: upkeep %s failed, tried again when next due: %s", self.name, problem)
            self.last = problem
            self.backlog = not problem and self._more(item.result)

    def _more(self, result) -> bool:
        try:
            return self.more is not None and bool(self.more(result))
        except Exception:  # noqa: BLE001  a backlog it cannot tell is no backlog (no busy waking)
            return False


class _Pending:
    __slots__ = ("work", "done", "result", "error", "future", "sink", "tag")

    def __init__(self, work, future: asyncio.Future | None = None, sink=None, tag: Any = None) -> None:
        self.work = work
        self.future = future             # async callers: resolved on its event loop when settled
        self.sink, self.tag = sink, tag  # or handed, with the caller's tag, to sink.settled(items)
        self.done = threading.Lock()
        if future is None and sink is None:
            self.done.acquire()          # blocking callers: released by the writer when settled
        self.result: Any = None
        self.error: BaseException | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


def _settle(batch: list[_Pending]) -> None:
    """Wake every caller of a settled batch: blocking ones directly, async ones with one
    call into each event loop (not one per caller)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
    by_sink: dict[Any, list[_Pending]] = {}
    for item in batch:
        if item.sink is not None:
            by_sink.setdefault(item.sink, []).append(item)
        elif item.future is None:
            item.done.release()
        else:
            by_loop.setdefault(item.future.get_loop(), []).append(item)
    for sink, items in by_sink.items():
        try:
            sink.settled(items)
        except Exception:  # noqa: BLE001  a sink answers for itself; the writer goes on
            pass
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, items)
        except RuntimeError:             # the loop is closed: nobody is waiting any more
            pass


def _resolve(items: list[_Pending]) -> None:
    for item in items:
        if item.future.cancelled():      # the caller went away; the work was done (or not) all the same
            continue
        if item.error is not None:
            item.future.set_exception(item.error)
        else:
            item.future.set_result(item.outcome())


class GroupCommitWriter:
    def __init__(self, connect: Callable[[], Any], dialect: Dialect, name: str, max_batch: int = 2048,
                 batch_lock: Callable[[], AbstractContextManager] = nullcontext,
                 after_commit: Callable[[Any], None] | None = None) -> None:
        """``batch_lock``: held around each batch's transaction (SQLite: a lock shared by processes);
        ``after_commit(conn)``: run after each committed batch, once its callers are answered (SQLite:
        sqlite.WalRestart); a failure there is logged and the next batch opens a new connection."""
        self._connect, self._d, self._max, self._batch_lock = connect, dialect, max_batch, batch_lock
        self._after_commit = after_commit
        self._upkeeps: list[_Upkeep] = []    # replaced, never changed in place (the writer thread reads it)
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._source = None              # another process's works, read by this thread (store/remote.py)
        self._conn = None
        self._closed = False
        self.batches = 0                 # committed batches (for tests and benchmarks)
        self._thread = threading.Thread(target=self._loop, name=f"blastwall-writer-{name}", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[SqlTx], Any]) -> Any:
        if threading.current_thread() is self._thread:
            raise StoreError("transact() called from inside a transaction")
        if self._closed:
            raise StoreError("the store is closed")
        item = _Pending(work)
        self._put(item)
        item.done.acquire()
        return item.outcome()

    async def submit_async(self, work: Callable[[SqlTx], Any]) -> Any:
        """As ``submit``, awaited on the running event loop instead of blocking a thread."""
        if self._closed:
            raise StoreError("the store is closed")
        future = asyncio.get_running_loop().create_future()
        self._put(_Pending(work, future))
        return await future

    def _put(self, item) -> None:
        self._q.put(item)
        source = self._source
        if source is not None:           # the writer may be waiting on the source, not the queue
            source.wake()

    def add_upkeep(self, work: Callable[[SqlTx], Any], every: float, wake_every: float | None = None,
                   more: Callable[[Any], bool] | None = None) -> None:
        """Run ``work`` in the first batch after each ``every`` seconds, in its own savepoint;
        nobody waits for it, and a failed one is undone alone and tried again when next due.
        ``wake_every``: also run it alone when no batch came for that long, or after ``every``
        when ``more`` said of its last result that more is waiting."""
        self._upkeeps = [*self._upkeeps, _Upkeep(work, every, wake_every, time.monotonic(), more)]
        self._put(_WAKE)                 # a writer waiting without a timeout takes up the new one

    def pending(self) -> int:
        """Works queued and not yet taken by the writer."""
        return self._q.qsize()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._put(_STOP)
            self._thread.join(timeout=30)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def attach(self, source) -> None:
        """Let this writer's thread also take works from ``source`` (a WriterServer), in the same
        batches as this process's own: ``source.poll(block, limit, timeout)`` returns ``(work, sink, tag)``
        triples (at most ``limit``; waiting for one when ``block``), ``source.wake()`` ends a wait,
        and ``source.abandon()`` is called if this writer stops with the source still attached.
        When the batch is settled, ``sink.settled(items)`` gets its items (``item.tag``,
        ``item.result``, ``item.error``), from this thread."""
        self._source = source
        self._q.put(_WAKE)               # it may be blocked on the queue

    def detach(self, source) -> None:
        """From the writer thread (the source's poll): wait on the queue alone again."""
        if self._source is source:
            self._source = None

    # writer thread ---------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            stopping = False
            while not stopping:
                batch = self._first()
                try:
                    with self._batch_lock():      # works queued while it waits for the lock join the batch
                        stopping = self._fill(batch)
                        if not stopping:
                            self._add_upkeep(batch)
                        if batch:
                            self._run(batch)
                except BaseException as exc:  # noqa: BLE001  never leave a caller waiting
                    self._settle_all([b for b in batch if b not in _MARKS],
                                     StoreError(f"store writer failed: {exc!r}"))
        except BaseException as exc:  # noqa: BLE001  waiting for work failed (a bug): stop, failing every caller
            self._closed = True
            log.error("blastwall: the store writer stopped; every write is refused: %r", exc)
        finally:
            self._fail_queued()
            self._drop_conn()
            source, self._source = self._source, None
            if source is not None:       # its peers wait on a writer that is gone: hang up on them
                source.abandon()

    def _first(self) -> list:
        """Wait for work: on the queue, or (with a source attached) on the source or the queue;
        [] when an upkeep's wake-up comes first."""
        while (source := self._source) is not None:
            if not self._q.empty():
                return []
            wait = self._wait()
            taken = source.poll(True, self._max, wait)
            if taken:
                return [_Pending(w, sink=sink, tag=tag) for w, sink, tag in taken]
            if wait is not None and self._wait() == 0:
                return []
        try:
            return [self._q.get(timeout=self._wait())]
        except queue.Empty:
            return []

    def _wait(self) -> float | None:
        """Seconds until an upkeep wants the writer awake (None: no such upkeep)."""
        wakes = [at for upkeep in self._upkeeps if (at := upkeep.wake_at()) is not None]
        return None if not wakes else max(0.0, min(wakes) - time.monotonic())

    def _fill(self, batch: list) -> bool:
        """Add what is queued and what the source has ready (up to max_batch), and drop the stop
        and wake marks; True if the stop mark was there."""
        while len(batch) < self._max:
            try:
                batch.append(self._q.get_nowait())
            except queue.Empty:
                break
        source = self._source
        if source is not None and len(batch) < self._max:
            batch.extend(_Pending(w, sink=sink, tag=tag) for w, sink, tag in source.poll(False, self._max - len(batch)))
        stopping = _STOP in batch
        batch[:] = [b for b in batch if b not in _MARKS]
        return stopping

    def _add_upkeep(self, batch: list) -> None:
        now = time.monotonic()
        batch.extend(run for upkeep in self._upkeeps if (run := upkeep.take(now)) is not None)

    def _run(self, batch: list[_Pending]) -> None:
        d = self._d
        try:
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            conn.execute(d.begin_write)
            chain = lock_head(conn, d)
        except StoreError as exc:
            self._abort(batch, exc)
            return
        except d.errors as exc:
            self._abort(batch, StoreError(f"{d.name}: cannot begin a write transaction: {exc}"))
            return
        broken = False
        for item in batch:
            tx = SqlTx(conn, d, chain, savepoint="bw_work")
            mark = chain.mark()
            try:
                item.result = item.work(tx)
                if tx.savepoint_open:
                    conn.execute("RELEASE SAVEPOINT bw_work")
            except BaseException as exc:  # noqa: BLE001  the caller gets its own exception
                if isinstance(exc, d.errors):
                    exc = StoreError(f"{d.name}: {exc}")
                item.error, item.result = exc, None
                chain.reset(mark)
                if tx.savepoint_open and not self._undo(conn):
                    self._abort(batch, StoreError(f"{d.name}: could not roll back a failed work: {exc}"))
                    return
            finally:
                tx.closed = True
                broken = broken or tx.fatal
        try:
            chain.flush(conn, d)
            status = getattr(conn.execute("COMMIT"), "statusmessage", "COMMIT")
            if status == "ROLLBACK":     # PostgreSQL ends a failed transaction this way, silently
                raise StoreError("the transaction had failed and was rolled back")
        except (StoreError, *d.errors) as exc:
            self._abort(batch, StoreError(f"{d.name}: commit failed, nothing recorded: {exc}"))
            return
        self.batches += 1
        _settle(batch)
        if broken:
            self._drop_conn()
        elif self._after_commit is not None:
            self._after(conn)

    def _after(self, conn) -> None:
        """The after-commit hook, once the batch is answered: whatever it raises stays here (the
        batch is committed and told so); the connection is opened afresh for the next batch."""
        try:
            self._after_commit(conn)
        except BaseException as exc:  # noqa: BLE001
            log.warning("blastwall: after a commit to %s: %r; reconnecting", self._d.name, exc)
            self._drop_conn()

    def _undo(self, conn) -> bool:
        try:
            conn.execute("ROLLBACK TO SAVEPOINT bw_work")
            conn.execute("RELEASE SAVEPOINT bw_work")
            return True
        except self._d.errors:
            return False

    def _abort(self, batch: list[_Pending], error: StoreError) -> None:
        """Roll back whatever is open, fail every caller of the batch, and start the next batch
        on a fresh connection (after an I/O error SQLite may keep a connection read-only)."""
        if self._conn is not None:
            try:
                self._conn.execute("ROLLBACK")
            except self._d.errors:
                pass
            self._drop_conn()
        self._settle_all(batch, error)

    @staticmethod
    def _settle_all(batch: list[_Pending], error: BaseException) -> None:
        for item in batch:
            item.result, item.error = None, error
        _settle(batch)

    def _fail_queued(self) -> None:
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                return
            if item not in _MARKS:
                self._settle_all([item], StoreError("the store is closed"))

    def _drop_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
