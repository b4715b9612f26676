"""The service benchmark runs end to end (briefly) and writes its table; its load generator is sound."""
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_service.py"
sys.path.insert(0, str(BENCH.parent))
import bench_service  # noqa: E402


def test_a_short_run_writes_the_table(tmp_path):
    out = tmp_path / "RESULTS-service.md"
    res = subprocess.run([sys.executable, str(BENCH), "--agents", "8", "--seconds", "0.5", "--warmup", "0.2",
                          "--workers", "1", "--rates", "50", "--no-gateway", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    text = out.read_text()
    assert "| Engine.decide, 1 thread |" in text and "8 agents at 50/s offered" in text
    assert "audit records, chain verified" in text and "CPU ms per decision" in text


def test_requests_carry_each_agent_token_and_an_exact_length():
    raw = bench_service.request_bytes({"intent": "x", "operations": []}, "bench-agent-007")
    head, body = raw.split(b"\r\n\r\n", 1)
    assert b"Authorization: Bearer " + bench_service.token("bench-agent-007").encode() in head
    assert f"Content-Length: {len(body)}".encode() in head


def test_the_mix_has_every_effect():
    from blastwall.engine import Engine
    engine = Engine.load(bench_service.SAMPLE_FLEET)
    effects = {str(engine.decide({**p, "agent": "a"}).effect) for p in bench_service.proposals()}
    assert effects == {"allow", "approve", "deny"}
