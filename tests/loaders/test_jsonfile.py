"""read_json_file: any bytes give a document or the caller's error naming the file, nothing else."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blastwall.errors import InventoryError, ProposalError
from blastwall.loaders.jsonfile import read_json_file


def test_each_failure_names_the_file_and_what_is_wrong(tmp_path):
    cases = {"missing.json": None, "big.json": b"[" + b"1," * 600 + b"1]", "latin1.json": b'{"a": "\xe9"}',
             "bad.json": b'{\n  "a": 1,\n  oops\n}'}
    for name, data in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    expected = {"missing.json": "no such file", "big.json": "larger than", "latin1.json": "not UTF-8",
                "bad.json": "invalid JSON"}
    for name, words in expected.items():
        with pytest.raises(ProposalError) as raised:
            read_json_file(tmp_path / name, 1024 if name != "big.json" else 1000, ProposalError)
        assert words in raised.value.message and raised.value.source == str(tmp_path / name)
    with pytest.raises(InventoryError) as raised:
        read_json_file(tmp_path / "bad.json", 1 << 20, InventoryError)
    assert raised.value.line == 3
    with pytest.raises(ProposalError):
        read_json_file(tmp_path, 1 << 20, ProposalError)                  # a directory is no file
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ProposalError, match="nested too deeply"):
        read_json_file(tmp_path / "deep.json", 1 << 20, ProposalError)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_the_given_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("j") / "doc.json"
    path.write_bytes(data)
    try:
        doc = read_json_file(path, 1 << 20, ProposalError)
    except ProposalError as exc:
        assert exc.source == str(path)
        return
    assert doc == json.loads(data.decode("utf-8"))


def test_a_pipe_is_read_and_bounded_as_it_goes(tmp_path):
    import os
    import threading
    for payload, limit in ((b'{"items": []}', 1 << 20), (b"[" + b"1," * 5000 + b"1]", 1000)):
        read, write = os.pipe()
        writer = threading.Thread(target=lambda: (os.write(write, payload), os.close(write)))
        writer.start()
        try:
            if limit > len(payload):
                assert read_json_file(f"/dev/fd/{read}", limit, InventoryError) == {"items": []}
            else:
                with pytest.raises(InventoryError, match="larger than"):
                    read_json_file(f"/dev/fd/{read}", limit, InventoryError)
        finally:
            os.close(read)
            writer.join()
