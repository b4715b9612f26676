"""`blastwall demo --exit` end to end: a real service, an agent and humans over HTTP, then the next steps."""
import json
import re
import stat
import subprocess
import sys

from tests.cli.test_check import run

SCRIPT = "from blastwall.cli.main import main; main()"


def test_demo_runs_the_service_and_says_what_to_do_next(tmp_path):
    res = run("demo", "--dir", "demo", "--port", "0", "--exit", cwd=tmp_path)
    out = res.stdout
    assert res.returncode == 0, out[-3000:] + res.stderr[-3000:]
    for effect in ("ALLOW", "DENY", "APPROVE"):                         # the three effects, with blast radii
        assert effect in out
    assert "blast radius" in out and "cn-northwest-1" in out
    assert "erin approves: rejected (403)" in out and "bob approves: approved" in out
    url = re.search(r"serving (http://127\.0\.0\.1:\d+)", out).group(1)
    for where in (f"{url}/docs", f"{url}/metrics", "/v1/audit", "audit.key.pub"):
        assert where in out
    tokens = json.loads((tmp_path / "demo" / "tokens.json").read_text())
    assert stat.S_IMODE((tmp_path / "demo" / "tokens.json").stat().st_mode) == 0o600
    assert f"export BLASTWALL_URL={url} BLASTWALL_TOKEN={tokens['erin']}" in out   # printed whole, once
    assert "blastwall approvals list" in out and "blastwall audit verify --db demo/blastwall.db" in out
    assert tokens["bob"] not in (tmp_path / "demo" / "principals.yaml").read_text()   # only hashes on disk

    verify = subprocess.run([sys.executable, "-c", SCRIPT, "audit", "verify", "--db", "demo/blastwall.db",
                             "--public-key", "demo/audit.key.pub"], capture_output=True, text=True, cwd=tmp_path,
                            timeout=120)
    assert verify.returncode == 0 and "consistent with checkpoint" in verify.stdout, verify.stdout + verify.stderr


def test_demo_never_deletes_a_directory_it_did_not_make(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    res = run("demo", "--dir", str(precious), "--exit", cwd=tmp_path)
    assert res.returncode == 2 and "not made by `blastwall demo`" in res.stderr
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_the_demo_serves_on_the_socket_it_chose_even_when_its_port_is_taken():
    import socket

    from blastwall.service.demo import listening_socket
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    with taken, listening_socket(port) as chosen:
        assert chosen.getsockname()[1] not in (port, 0)
        with socket.create_connection(chosen.getsockname()[:2], timeout=5):   # already listening
            pass
    with listening_socket(port) as again:                                      # free again: preferred
        assert again.getsockname()[1] == port
