"""The shared writer of `serve --workers N` (store/remote.py): works sent to another store's writer
are committed there, in its chain; what cannot be sent is committed locally; nothing foreign is run."""
from __future__ import annotations

import asyncio
import json
import os
import pickle
import socket
import struct
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from blastwall.audit.chain import verify
from blastwall.audit.export import iter_records
from blastwall.core.limits import Charge
from blastwall.service.gateway import ProposalRecord, _OverBudget, _SwitchesChanged, record_proposal
from blastwall.store.base import StoreError, Work, open_store
from blastwall.store.remote import loads

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def record(effect: str = "approve", switches=frozenset(), due=(), digest: str = "sha256:ab") -> ProposalRecord:
    scope = {"environments": ["prod"], "regions": ["us-east-1"]} if effect == "approve" else None
    return ProposalRecord("kiro-ops-7", "alice", "clean up <b>now</b>", '{"agent":"kiro-ops-7","operations":[]}',
                          json.dumps({"effect": effect, "impact": {"environments": ["prod"]}}, separators=(",", ":"),
                                     sort_keys=True), ("prod",), effect, digest,
                          "sha256:p", "sha256:i", 2 if scope else 0, scope, tuple(due), NOW, False, switches,
                          timedelta(hours=1))


@pytest.fixture
def pair(tmp_path):
    """A 'parent' store serving its writer and a 'worker' store sharing it, on one SQLite file."""
    url = f"sqlite:///{tmp_path / 'bw.db'}"
    parent, worker = open_store(url), open_store(url)
    parent.migrate()
    server = parent.serve_writer(str(tmp_path / "writer.sock"))
    worker.share_writer(server.path)
    yield parent, worker, server
    server.close()
    worker.close()
    parent.close()


def run(coro):
    return asyncio.run(coro)


def local_write_lands(store, within: float = 30) -> bool:
    """The serving process's own write is committed within ``within`` seconds (never hangs the test)."""
    done = []
    local = threading.Thread(target=lambda: done.append(
        store.transact(lambda tx: tx.audit("note", "bob", {"local": True}, NOW).seq)), daemon=True)
    local.start()
    local.join(timeout=within)
    return bool(done)


def test_a_record_round_trips_through_pickle_as_plain_values():
    rec = record(due=(Charge("agent:kiro-ops-7:hour", 1.0, 10.0, "changes"),))
    back = loads(pickle.dumps(Work(record_proposal, (rec,)), protocol=5))
    assert back.fn is record_proposal and back.args == (rec,)
    assert back.args[0].now == NOW and back.args[0].now.tzinfo is not None


def test_works_are_committed_by_the_serving_writer_in_one_chain(pair):
    parent, worker, _ = pair

    async def many():
        return await asyncio.gather(*[worker.transact_async(Work(record_proposal, (record(digest=f"sha256:{n}"),)))
                                      for n in range(25)])
    ids = run(many())
    assert len({i["proposal_id"] for i in ids}) == 25 and len({i["approval_request_id"] for i in ids}) == 25
    assert worker.batches == 0 and parent.batches >= 1          # the worker's own writer never ran
    records = list(iter_records(parent))
    assert len(records) == 75 and verify(records, head=parent.audit_head()).ok
    stored = parent.read(lambda tx: tx.get_proposal(ids[0]["proposal_id"]))
    assert stored["intent"] == "clean up <b>now</b>" and stored["status"] == "pending"
    assert stored["decision"] == {"effect": "approve", "impact": {"environments": ["prod"]}}   # parsed back
    assert records[1].kind == "decision" and records[1].payload["decision"] == stored["decision"]


def test_exceptions_come_back_with_their_fields_and_roll_back(pair):
    parent, worker, _ = pair
    parent.transact(lambda tx: tx.set_kill_switch("global", True, "bob", "drill", NOW))
    with pytest.raises(_SwitchesChanged) as raised:
        run(worker.transact_async(Work(record_proposal, (record(),))))
    assert raised.value.switches == frozenset({"global"})
    parent.transact(lambda tx: tx.set_kill_switch("global", False, "bob", "over", NOW))
    over = Charge("agent:kiro-ops-7:hour", 5.0, 3.0, "changes")
    with pytest.raises(_OverBudget) as raised:
        run(worker.transact_async(Work(record_proposal, (record("allow", due=(over,)),))))
    assert raised.value.charge == over
    assert parent.list_proposals() == []                           # neither was recorded


def test_what_cannot_be_sent_is_committed_locally(pair):
    parent, worker, _ = pair
    got = run(worker.transact_async(lambda tx: tx.audit("note", "me", {"n": 1}, NOW).seq))   # a lambda
    assert got == 1 and worker.batches == 1 and parent.batches == 0


def test_when_the_writer_is_gone_later_works_are_committed_locally(pair):
    parent, worker, server = pair
    run(worker.transact_async(Work(record_proposal, (record(),))))
    server.close()

    async def after():
        await asyncio.sleep(0.05)
        try:
            first = await worker.transact_async(Work(record_proposal, (record(),)))
        except StoreError as exc:            # in flight when the connection dropped: outcome unknown, refused
            assert "may or may not be recorded" in str(exc)
            first = await worker.transact_async(Work(record_proposal, (record(),)))
        return first
    assert run(after())["proposal_id"]
    assert worker.batches >= 1
    records = list(iter_records(parent))
    assert verify(records, head=parent.audit_head()).ok


def test_a_foreign_pickle_is_refused_and_nothing_runs(pair, tmp_path):
    parent, _, server = pair
    marker = tmp_path / "pwned"
    evil = pickle.dumps((1, Work(os.system, (f"touch {marker}",))), protocol=5)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(server.path)
        s.sendall(struct.pack("!I", len(evil)) + evil)
        s.settimeout(5)
        assert s.recv(100) == b""                                  # the writer hangs up
    assert not marker.exists() and parent.batches == 0
    for _ in range(2):                                             # refused every time, not remembered
        with pytest.raises(pickle.UnpicklingError):
            loads(pickle.dumps(os.system))
    assert loads(pickle.dumps(Work(record_proposal, ()))).fn is record_proposal     # allowed, and remembered
    assert loads(pickle.dumps(Work(record_proposal, ()))).fn is record_proposal


def test_the_socket_is_private(pair):
    _, _, server = pair
    assert os.stat(server.path).st_mode & 0o077 == 0


@pytest.mark.parametrize("body", [b"not a pickle", pickle.dumps(("x", "y")), pickle.dumps(12), b""])
def test_a_bad_frame_drops_only_that_connection(pair, body):
    parent, worker, server = pair
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(server.path)
        s.sendall(struct.pack("!I", len(body)) + body + (b"" if body else b"tail"))
        s.settimeout(5)
        assert s.recv(100) == b""
    got = run(worker.transact_async(Work(record_proposal, (record(),))))      # others are still served
    assert got["proposal_id"] and parent.batches >= 1 and worker.batches == 0


def test_a_peer_that_stops_reading_does_not_hold_up_the_writer(pair):
    """Answers to a worker that never reads pile up in its own sender; everyone else goes on."""
    parent, _, server = pair
    body = pickle.dumps((1, Work(record_proposal, (record("deny"),))), protocol=5)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(server.path)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall((struct.pack("!I", len(body)) + body) * 8000)  # more answers than socket buffers hold
        assert local_write_lands(parent), "the writer was held up by a peer that does not read"
        deadline = time.monotonic() + 30
        while len(parent.list_proposals(limit=9000)) < 8000 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(parent.list_proposals(limit=9000)) == 8000


def test_a_peer_far_behind_is_dropped(pair, monkeypatch):
    """Its unsent answers are bounded: past MAX_QUEUED frames the writer hangs up on it."""
    from blastwall.store.remote import _Outbox
    monkeypatch.setattr(_Outbox, "MAX_QUEUED", 0)                # any unsent answer is too many
    _, _, server = pair
    body = pickle.dumps((1, Work(record_proposal, (record("deny"),))), protocol=5)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(server.path)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            s.sendall((struct.pack("!I", len(body)) + body) * 8000)
        except (BrokenPipeError, ConnectionResetError):
            return                                             # hung up on before it even finished sending
        time.sleep(1)                                          # let answers pile up unread
        s.settimeout(30)
        while s.recv(1 << 16):                                 # then read: the stream ends (hung up)
            pass


def test_closing_the_store_while_it_serves_is_prompt(tmp_path):
    """The writer waits on the workers' sockets, not its queue: the stop mark must still wake it."""
    parent = open_store(f"sqlite:///{tmp_path / 'bw.db'}")
    parent.migrate()
    server = parent.serve_writer(str(tmp_path / "writer.sock"))
    time.sleep(0.1)                                            # let it block on the sockets
    started = time.monotonic()
    parent.close()
    assert time.monotonic() - started < 5
    assert server._sel.get_map() is None                      # the ending writer shut its sockets
    server.close()                                             # and closing after that is harmless
    assert not os.path.exists(server.path)


def test_a_worker_is_not_left_waiting_on_a_writer_that_stopped(pair):
    """The serving store closed first: its workers are hung up on and commit on their own."""
    parent, worker, _ = pair
    run(worker.transact_async(Work(record_proposal, (record(),))))
    parent.close()

    async def after():
        try:
            return await asyncio.wait_for(worker.transact_async(Work(record_proposal, (record(),))), 10)
        except StoreError:                      # it was on its way when the writer went
            return await asyncio.wait_for(worker.transact_async(Work(record_proposal, (record(),))), 10)
    assert run(after())["proposal_id"] and worker.batches >= 1


def test_a_local_write_is_not_held_up_by_idle_workers(pair):
    """A write of the serving process itself wakes the writer from its wait on the sockets."""
    parent, _, _ = pair
    time.sleep(0.1)
    started = time.monotonic()
    for n in range(20):
        parent.transact(lambda tx: tx.audit("note", "bob", {"n": n}, NOW))
    assert time.monotonic() - started < 5 and parent.batches >= 20


def test_many_workers_and_local_writes_at_once_all_land_in_one_chain(tmp_path):
    """Four worker processes' connections (here: threads with their own loops) and the serving
    process's own writes, all at once: every acknowledged work is recorded, once, in one chain."""
    url = f"sqlite:///{tmp_path / 'bw.db'}"
    parent = open_store(url)
    parent.migrate()
    server = parent.serve_writer(str(tmp_path / "writer.sock"))
    workers = [open_store(url) for _ in range(4)]
    for w in workers:
        w.share_writer(server.path)
    acked: list[str] = []
    lock = threading.Lock()

    def worker(store, n):
        async def many():
            return await asyncio.gather(*[store.transact_async(Work(record_proposal, (record(
                "deny", digest=f"sha256:{n}-{i}"),))) for i in range(150)])
        ids = [r["proposal_id"] for r in asyncio.run(many())]
        with lock:
            acked.extend(ids)

    def local():
        for i in range(100):
            parent.transact(lambda tx: tx.audit("note", "bob", {"i": i}, NOW))
    threads = [threading.Thread(target=worker, args=(w, n)) for n, w in enumerate(workers)]
    threads.append(threading.Thread(target=local))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert len(acked) == 600 == len(set(acked))
        stored = {p["id"] for p in parent.list_proposals(limit=1000)}
        assert stored == set(acked)
        records = list(iter_records(parent))
        assert len(records) == 600 * 2 + 100 and verify(records, head=parent.audit_head()).ok
        assert all(w.batches == 0 for w in workers)               # every work went through the parent
    finally:
        server.close()
        for w in workers:
            w.close()
        parent.close()


def test_a_broken_selector_stops_serving_but_not_the_writer(pair, monkeypatch):
    """Nothing in the writer's wait on the sockets may end its thread: local writes go on, and the
    workers, hung up on, commit on their own."""
    parent, worker, server = pair
    run(worker.transact_async(Work(record_proposal, (record(),))))

    def broken(timeout=None):
        raise OSError("selector gone")
    monkeypatch.setattr(server._sel, "select", broken)
    assert local_write_lands(parent), "the writer thread died with its source"

    async def after():
        try:
            return await worker.transact_async(Work(record_proposal, (record(),)))
        except StoreError:                      # in flight when it was hung up on: refused, not lost
            return await worker.transact_async(Work(record_proposal, (record(),)))
    assert run(after())["proposal_id"] and worker.batches >= 1
    assert not os.path.exists(server.path)
    assert verify(list(iter_records(parent)), head=parent.audit_head()).ok


@pytest.mark.parametrize("answer", [struct.pack("!I", 5) + b"junk!",
                                    struct.pack("!I", 2**31) + b"x",
                                    b"".join(struct.pack("!I", len(b)) + b for b in [pickle.dumps(7)])])
def test_a_foreign_answer_fails_the_call_and_is_not_trusted(tmp_path, answer):
    """What answers on the writer's socket must be blastwall's writer; anything else ends the call
    with StoreError (outcome unknown), never with a value."""
    path = str(tmp_path / "fake.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)

    def fake():
        conn, _ = listener.accept()
        conn.recv(1 << 16)
        conn.sendall(answer)
        time.sleep(1)
        conn.close()
    threading.Thread(target=fake, daemon=True).start()
    worker = open_store(f"sqlite:///{tmp_path / 'bw.db'}")
    worker.migrate()
    worker.share_writer(path)
    try:
        with pytest.raises(StoreError, match="may or may not be recorded"):
            run(asyncio.wait_for(worker.transact_async(Work(record_proposal, (record(),))), 10))
    finally:
        worker.close()
        listener.close()
