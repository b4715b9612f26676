"""The principals file: who may propose, review, operate the kill switch; refused when unclear."""
import pytest
from hypothesis import assume, given, strategies as st

from blastwall.errors import InputError
from blastwall.service.principals import hash_token, name_key, new_token, parse_principals


def human(name: str, **extra) -> dict:
    return {"name": name, "kind": "human", "token_sha256": hash_token("t-" + name), "roles": ["approver"], **extra}


def agent(name: str, operator: str = "", **extra) -> dict:
    return {"name": name, "kind": "agent", "token_sha256": hash_token("t-" + name), "operator": operator, **extra}


def parse(*items):
    return parse_principals({"principals": list(items)}, "principals.yaml")


@pytest.mark.parametrize("doc, field, words", [
    ({}, "principals", "non-empty list"),
    ({"principals": ["alice"]}, "principals[0]", "is an object"),
    ({"principals": [{**human("alice"), "name": "al ice"}]}, "principals[0].name", "no spaces"),
    ({"principals": [{**human("alice"), "name": "ali\u200bce"}]}, "principals[0].name", "no spaces"),
    ({"principals": [{**human("alice"), "kind": "robot"}]}, "principals[0].kind", "agent or human"),
    ({"principals": [{**human("alice"), "token_sha256": "abc"}]}, "principals[0].token_sha256", "hex SHA-256"),
    ({"principals": [{**human("alice"), "roles": ["god"]}]}, "principals[0].roles", "for humans only"),
    ({"principals": [{**agent("bot"), "roles": ["approver"]}]}, "principals[0].roles", "for humans only"),
    ({"principals": [human("alice"), human("alice")]}, "principals[1]", "duplicate"),
    ({"principals": [human("alice"), human("Alice")]}, "principals[1].name", "only in case"),
    ({"principals": [human("alice"), human("\uff41lice")]}, "principals[1].name", "only in case"),
    ({"principals": [human("alice"), agent("bot", "Alice")]}, "principals[1].operator", "exactly as principal 'alice'"),
    ({"principals": [human("alice"), agent("bot", ["alice"])]}, "principals[1].operator", "a principal's name"),
])
def test_a_bad_principals_file_is_refused_naming_the_field(doc, field, words):
    with pytest.raises(InputError) as err:
        parse_principals(doc, "principals.yaml")
    assert err.value.field == field and words in err.value.message and err.value.source == "principals.yaml"


def test_tokens_authenticate_by_hash_and_operators_are_kept():
    token, digest = new_token()
    directory = parse(human("alice"), {**agent("bot", "alice"), "token_sha256": digest}, agent("ci", "release-team"))
    assert directory.authenticate(token).name == "bot" and directory.authenticate(token).operator == "alice"
    assert directory.authenticate("t-bot") is None and directory.authenticate(None) is None
    assert directory.by_name["ci"].operator == "release-team"        # an operator need not be a principal


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.", min_size=1, max_size=12), st.data())
def test_names_that_look_alike_cannot_both_be_principals(name, data):
    other = "".join(c.swapcase() if data.draw(st.booleans()) else c for c in name)
    assume(other != name)
    assert name_key(other) == name_key(name)
    with pytest.raises(InputError, match="only in case"):
        parse(human(name), agent(other))
    with pytest.raises(InputError, match="exactly as principal"):
        parse(human(name), agent("x" + name, operator=other))
