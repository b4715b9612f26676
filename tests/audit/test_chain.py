"""The hash chain, Merkle checkpoints and signatures: tampering of every kind is caught."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from blastwall.audit.chain import (EMPTY_ROOT, GENESIS, MerkleAccumulator, canonical, make_record, merkle_root,
                                   record_hash, verify)
from blastwall.audit.checkpoint import Checkpoint, CheckpointError

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)
KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()


def build(payloads, start=T0):
    head, out = (0, GENESIS), []
    for i, p in enumerate(payloads):
        rec = make_record(head, ["proposal", "decision", "review"][i % 3], f"agent-{i % 4}", p,
                          start + timedelta(seconds=i))[0]
        out.append(rec)
        head = (rec.seq, rec.hash)
    return out


def rehash(records):
    """An attacker who recomputes every hash after a change (no secret is needed for that)."""
    head, out = (0, GENESIS), []
    for r in records:
        rec = make_record(head, r.kind, r.actor, r.payload, r.at)[0]
        out.append(rec)
        head = (rec.seq, rec.hash)
    return out


def checkpoint_of(records) -> Checkpoint:
    return Checkpoint(len(records), merkle_root(r.hash for r in records), T0).signed(KEY)


def head_of(records):
    return (records[-1].seq, records[-1].hash) if records else (0, GENESIS)


def kinds(result):
    return {p.kind for p in result.problems}


CHAIN = build([{"n": i, "intent": "drop table ☃ <b>"} for i in range(10)])


# canonical form and hashes --------------------------------------------------------------
def test_canonical_json_is_sorted_compact_utf8():
    assert canonical({"b": 1, "a": [1, 2, {"d": None, "c": "é"}]}) == '{"a":[1,2,{"c":"é","d":null}],"b":1}'.encode()
    with pytest.raises(ValueError):
        canonical({"x": float("nan")})
    with pytest.raises(TypeError):
        canonical({"x": object()})


def test_record_hash_is_sha256_of_prev_hash_and_canonical_fields():
    rec = CHAIN[3]
    body = json.dumps({"seq": rec.seq, "at": "2026-03-04T12:00:03.000000+00:00", "kind": rec.kind,
                       "actor": rec.actor, "payload": rec.payload}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    assert rec.hash == hashlib.sha256((rec.prev_hash + body).encode()).hexdigest()
    assert rec.prev_hash == CHAIN[2].hash and CHAIN[0].prev_hash == GENESIS
    assert record_hash(rec.prev_hash, rec.seq, rec.at, rec.kind, rec.actor, rec.payload) == rec.hash


def test_intact_chain_and_empty_chain_verify():
    assert verify(CHAIN, checkpoint_of(CHAIN), head=head_of(CHAIN)).ok
    assert verify([], checkpoint=Checkpoint(0, EMPTY_ROOT, T0), head=(0, GENESIS)).ok


# tampering ------------------------------------------------------------------------------------
def test_edited_payload():
    bad = list(CHAIN)
    bad[4] = replace(bad[4], payload={"n": 4, "intent": "harmless"})
    result = verify(bad)
    assert not result.ok and result.problems[0].kind == "edited" and result.problems[0].seq == 5


def test_deleted_record():
    bad = CHAIN[:3] + CHAIN[4:]
    result = verify(bad)
    assert kinds(result) == {"deleted"} and result.problems[0].seq == 4


def test_swapped_records():
    bad = list(CHAIN)
    bad[2], bad[6] = bad[6], bad[2]
    assert "reordered" in kinds(verify(bad))


def test_inserted_record():
    forged = make_record((3, CHAIN[2].hash), "review", "mallory", {"approve": True}, T0)[0]
    bad = CHAIN[:3] + [forged] + CHAIN[3:]             # a second seq 4
    assert "inserted" in kinds(verify(bad))
    shifted = CHAIN[:3] + [forged] + [replace(r, seq=r.seq + 1) for r in CHAIN[3:]]
    assert not verify(shifted).ok


def test_rewritten_history_is_caught_by_the_checkpoint_only():
    cp = checkpoint_of(CHAIN)
    forged = make_record((3, CHAIN[2].hash), "review", "mallory", {"approve": True}, T0)[0]
    for rewritten in (rehash(CHAIN[:3] + [forged] + CHAIN[3:]),            # inserted
                      rehash(CHAIN[:5] + CHAIN[6:] + [forged]),              # deleted (length kept)
                      rehash([replace(CHAIN[0], payload={"n": 0})] + CHAIN[1:])):   # edited
        assert verify(rewritten).ok                    # self-consistent: only a checkpoint tells
        result = verify(rewritten, cp)
        assert kinds(result) == {"checkpoint_mismatch"}


def test_truncated_tail_vs_checkpoint_and_head():
    cp = checkpoint_of(CHAIN)
    result = verify(CHAIN[:7], cp)
    assert kinds(result) == {"truncated"} and "10" in str(result.problems[0])
    assert kinds(verify(CHAIN[:7], head=head_of(CHAIN))) == {"truncated"}
    assert verify(CHAIN[:7], checkpoint_of(CHAIN[:7])).ok
    # a later record appended is fine for an older checkpoint
    assert verify(CHAIN, checkpoint_of(CHAIN[:7])).ok


def test_exported_checkpoint_text_roundtrip_and_signature():
    cp = checkpoint_of(CHAIN)
    text = cp.to_text()
    lines = text.splitlines()
    assert lines[:4] == ["blastwall-audit-checkpoint v1", "size 10", f"root {cp.root}",
                         "at 2026-03-04T12:00:00.000000+00:00"]
    assert lines[4] == "" and lines[5].startswith("sig ")
    back = Checkpoint.from_text(text)
    assert back == cp and back.verify(KEY.public_key())
    assert Checkpoint.from_dict(cp.to_dict()) == cp


def test_forged_signature_and_wrong_key():
    cp = checkpoint_of(CHAIN)
    smaller = Checkpoint.from_text(cp.to_text().replace("size 10", "size 7"))
    assert not smaller.verify(KEY.public_key())                       # edited note
    assert not replace(cp, sig=bytes(64)).verify(KEY.public_key())   # made-up signature
    assert not replace(cp, root=merkle_root(r.hash for r in CHAIN[:9])).verify(KEY.public_key())
    assert not cp.verify(OTHER_KEY.public_key())                      # wrong key
    assert Checkpoint(10, cp.root, T0).signed(OTHER_KEY).verify(OTHER_KEY.public_key())


@pytest.mark.parametrize("text", [
    "", "hello\n", "blastwall-audit-checkpoint v1\nsize x\nroot ab\nat now\n\nsig AA==\n",
    "blastwall-audit-checkpoint v1\nsize 1\nroot " + "0" * 64 + "\nat 2026-01-01T00:00:00+00:00\nsig AA==\n",
    "blastwall-audit-checkpoint v1\nsize 1\nroot " + "0" * 64 + "\nat 2026-01-01T00:00:00+00:00\n\nsig !!\n",
])
def test_malformed_checkpoint_text_is_refused(text):
    with pytest.raises(CheckpointError):
        Checkpoint.from_text(text)


# Merkle tree: RFC 6962 -----------------------------------------------------------------------
def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, literally."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def test_merkle_root_matches_rfc6962_definition():
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(70)]
    acc = MerkleAccumulator()
    assert acc.root() == EMPTY_ROOT
    for n in range(1, 71):
        acc.append(hashes[n - 1])
        expected = _mth([bytes.fromhex(h) for h in hashes[:n]]).hex()
        assert acc.root() == expected == merkle_root(hashes[:n])


# property: any single mutation of a random chain is detected ------------------------------------
json_scalars = st.none() | st.booleans() | st.integers(-2**63, 2**63) | \
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) |
                           st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
payloads = st.dictionaries(st.text(max_size=6), json_values, max_size=4)
MUTATIONS = ["payload", "kind", "actor", "at", "seq", "hash", "prev_hash", "delete", "swap", "insert",
             "duplicate", "truncate"]


@st.composite
def chains_and_mutations(draw):
    records = build(draw(st.lists(payloads, min_size=1, max_size=25)))
    mutation = draw(st.sampled_from(MUTATIONS))
    i = draw(st.integers(0, len(records) - 1))
    return records, mutation, i, draw(st.data())


def mutate(records, mutation, i, data):
    bad, r = list(records), records[i]
    if mutation == "payload":
        new = data.draw(payloads.filter(lambda p: canonical(p) != canonical(r.payload)))
        bad[i] = replace(r, payload=new)
    elif mutation == "kind":
        bad[i] = replace(r, kind=r.kind + "x")
    elif mutation == "actor":
        bad[i] = replace(r, actor="mallory")
    elif mutation == "at":
        bad[i] = replace(r, at=r.at + timedelta(microseconds=data.draw(st.integers(1, 10**9))))
    elif mutation == "seq":
        bad[i] = replace(r, seq=r.seq + data.draw(st.sampled_from([-1, 1, 7])))
    elif mutation == "hash":
        bad[i] = replace(r, hash=hashlib.sha256(r.hash.encode()).hexdigest())
    elif mutation == "prev_hash":
        bad[i] = replace(r, prev_hash=hashlib.sha256(r.prev_hash.encode()).hexdigest())
    elif mutation == "delete":
        del bad[i]
    elif mutation == "swap":
        if len(bad) < 2:
            del bad[i]
        else:
            j = data.draw(st.integers(0, len(bad) - 1).filter(lambda j: j != i))
            bad[i], bad[j] = bad[j], bad[i]
    elif mutation in ("insert", "duplicate"):
        prev = (i, records[i - 1].hash if i else GENESIS)
        forged = make_record(prev, "review", "mallory", {"approve": True}, r.at)[0] if mutation == "insert" else r
        bad.insert(i, forged)
    elif mutation == "truncate":
        bad = bad[:i]
    return bad


@settings(max_examples=300, deadline=None)
@given(chains_and_mutations())
def test_any_single_mutation_is_detected(case):
    records, mutation, i, data = case
    cp, head = checkpoint_of(records), head_of(records)
    assert verify(records, cp, head=head).ok
    bad = mutate(records, mutation, i, data)
    result = verify(bad, cp, head=head)
    assert not result.ok, (mutation, i)


@settings(max_examples=200, deadline=None)
@given(st.lists(payloads, min_size=1, max_size=20), st.data())
def test_any_single_mutation_without_rehash_is_detected_by_the_chain_alone(plist, data):
    """No checkpoint, no head: edits, deletions inside the chain, swaps and insertions still show."""
    records = build(plist)
    mutation = data.draw(st.sampled_from(["payload", "kind", "actor", "at", "seq", "hash", "prev_hash",
                                          "swap", "duplicate", "insert", "delete"]))
    i = data.draw(st.integers(0, len(records) - 1))
    if mutation == "delete" and i == len(records) - 1:
        return                      # removing the last record needs a checkpoint or the head: tested above
    if mutation == "insert" and i == len(records):
        return
    if mutation == "swap" and len(records) < 2:
        return
    bad = mutate(records, mutation, i, data)
    assert not verify(bad).ok, (mutation, i)


@settings(max_examples=200, deadline=None)
@given(payloads)
def test_stored_form_rehashes_identically(payload):
    rec = make_record((0, GENESIS), "k", "a", payload, T0)[0]
    stored = json.loads(canonical(payload))
    assert record_hash(GENESIS, 1, rec.at, "k", "a", stored) == rec.hash


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=8)
                     | st.floats(allow_nan=False, allow_infinity=False),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                     max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), st.tuples(_JSON, st.booleans()), max_size=5))
def test_values_encoded_once_embed_to_the_same_canonical_text(fields):
    """A payload whose documents were encoded beforehand (Canonical) hashes like the plain one."""
    from blastwall.audit.chain import Canonical, canonical_text
    plain = {k: v for k, (v, _) in fields.items()}
    mixed = {k: (Canonical.of(v) if wrap else v) for k, (v, wrap) in fields.items()}
    assert canonical_text(mixed) == canonical_text(plain)
    assert json.loads(canonical_text(mixed)) == json.loads(json.dumps(plain))


def test_a_pre_encoded_value_below_the_top_level_is_refused_not_quoted():
    from blastwall.audit.chain import Canonical, canonical_text
    with pytest.raises(TypeError):
        canonical_text({"a": {"b": Canonical.of({"x": 1})}})
    with pytest.raises(TypeError):
        canonical_text({"a": [Canonical.of(1)]})
    assert canonical_text(Canonical.of({"x": 1})) == '{"x":1}'


@settings(max_examples=200, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                             timezones=st.one_of(st.none(), st.timezones())), min_size=1, max_size=6),
       st.lists(st.integers(0, 5), max_size=12))
def test_iso_is_utc_with_microseconds_whatever_came_before(times, order):
    """iso() keeps the last time it formatted: asked again, or for another, it answers the same."""
    from blastwall.audit.chain import iso, utc
    for i in [*order, *range(len(times))]:
        at = times[i % len(times)]
        assert iso(at) == utc(at).isoformat(timespec="microseconds")
