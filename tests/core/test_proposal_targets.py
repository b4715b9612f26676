"""Targets are names: no whitespace of any kind, however it is spelt."""
import sys

import pytest

from blastwall.core.proposal import WHITESPACE, parse_proposal
from blastwall.errors import ProposalError


def test_the_whitespace_pattern_is_exactly_str_isspace():
    differ = [c for c in range(sys.maxunicode + 1) if bool(WHITESPACE.match(chr(c))) != chr(c).isspace()]
    assert differ == []


@pytest.mark.parametrize("space", [" ", "\t", "\x1c", "\x85", "\xa0", "\u2003", "\u2028", "\u3000"])
def test_a_target_with_whitespace_is_refused_naming_the_field(space):
    doc = {"agent": "bot", "operations": [{"verb": "restart", "target": "payments"},
                                          {"verb": "restart", "target": f"deploy/pay{space}ments"}]}
    with pytest.raises(ProposalError) as err:
        parse_proposal(doc)
    assert err.value.field == "operations[1].target"
