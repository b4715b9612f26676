"""printable: untrusted text shown to a human can neither act on the terminal nor hide itself."""
import re
import unicodedata

from hypothesis import given, strategies as st

from blastwall.core.display import printable

ACTING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]")


@given(st.text())
def test_nothing_that_acts_on_a_terminal_survives(text):
    out = printable(text)
    assert not ACTING.search(out)
    assert all(unicodedata.category(c) not in ("Cc",) or c in "\n\t" for c in out)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Zl", "Zp", "Cs"))))
def test_ordinary_text_is_shown_as_it_is(text):
    assert printable(text) == text


def test_escapes_are_visible_and_name_the_character():
    assert printable("a\x1b[2Jb\u202ec\n") == "a\\x1b[2Jb\\u202ec\n"
