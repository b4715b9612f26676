"""Processes sharing a store follow each other's reloads (the generation counted in the store)."""
import time

import pytest

from blastwall.errors import BlastwallError
from blastwall.service.follow import ReloadFollower
from tests.service.test_api import ROUTINE

FROZEN = ("version: 1\nextends: recommended\nfreezes:\n  - {name: all, start: 2000-01-01T00:00:00Z, "
          "end: 2100-01-01T00:00:00Z}\n")


@pytest.fixture
def pair(make_gateway, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nextends: recommended\n")
    return make_gateway(policy=policy), make_gateway(policy=policy), policy


def effect(gw) -> str:
    return gw.propose(gw.principals.by_name["kiro-ops-7"], ROUTINE)["decision"]["effect"]


def test_a_reload_elsewhere_is_followed_once(pair):
    a, b, policy = pair
    assert not b.follow_reloads()                                  # nothing to follow yet
    policy.write_text(FROZEN)
    a.reload(by="root")
    assert effect(b) == "allow"                                    # b has not looked yet
    assert b.follow_reloads() and effect(b) == "deny"
    assert not b.follow_reloads() and not a.follow_reloads()       # its own reload, and b's follow, count once
    kinds = [(r.kind, r.actor) for r in a.store.audit_records(limit=10000) if r.kind.startswith("reload")]
    assert kinds == [("reload", "root"), ("reload", "follow")]


def test_following_an_unchanged_reload_records_nothing(pair):
    a, b, _ = pair
    a.reload(by="root")
    assert b.follow_reloads()
    assert [r.actor for r in a.store.audit_records(limit=10000) if r.kind == "reload"] == ["root"]


def test_a_broken_file_here_is_tried_once_and_the_old_serves_on(pair, tmp_path):
    a, b, policy = pair
    a.reload(by="root")
    policy.write_text("version: [ broken")
    with pytest.raises(BlastwallError):
        b.follow_reloads()
    assert not b.follow_reloads() and effect(b) == "allow"         # once per generation, old policy kept
    assert [r.kind for r in a.store.audit_records(limit=10000)].count("reload_failed") == 1


def test_the_follower_thread_reports_and_goes_on(pair):
    a, b, policy = pair
    said = []
    follower = ReloadFollower(b, every=0.01, report=said.append).start()
    try:
        policy.write_text("version: [ broken")
        with pytest.raises(BlastwallError):
            a.reload(by="root")                                     # refused here: nothing to follow
        policy.write_text(FROZEN)
        a.reload(by="root")
        deadline = time.monotonic() + 10
        while effect(b) != "deny":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        follower.stop()
    assert said == []


def test_the_follower_reports_a_reload_it_cannot_follow_once(make_gateway, tmp_path):
    mine, theirs = tmp_path / "a.yaml", tmp_path / "b.yaml"
    mine.write_text("version: 1\nextends: recommended\n")
    theirs.write_text("version: 1\nextends: recommended\n")
    a, b = make_gateway(policy=mine), make_gateway(policy=theirs)
    said = []
    follower = ReloadFollower(b, every=0.01, report=said.append).start()
    try:
        theirs.write_text("version: [ broken")                     # b's own copy is broken
        a.reload(by="root")
        a.reload(by="root")
        deadline = time.monotonic() + 10
        while b.generation < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.1)
    finally:
        follower.stop()
    assert len(said) == 1 and said[0].startswith("blastwall: could not follow a reload: ")
    assert effect(b) == "allow"


def test_a_reload_elsewhere_while_this_one_reads_its_files_is_still_followed(pair, monkeypatch):
    """This process read its files before the other reload changed them: it must load them again."""
    import blastwall.service.gateway as gateway_module
    a, b, policy = pair
    real_load = gateway_module.Engine.load

    def load_then_someone_reloads(*args):
        engine = real_load(*args)                                 # a has read the old policy
        monkeypatch.setattr(gateway_module.Engine, "load", real_load)
        policy.write_text(FROZEN)
        b.reload(by="root")                                       # b reads the new one, counts a generation
        return engine
    monkeypatch.setattr(gateway_module.Engine, "load", load_then_someone_reloads)
    a.reload(by="signal")
    assert effect(a) == "allow"                                   # still the old policy here...
    assert a.follow_reloads() and effect(a) == "deny"             # ...until it follows b's reload
