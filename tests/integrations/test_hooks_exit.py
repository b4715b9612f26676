"""A hook that cannot say its answer, or is set to outlast the agent, blocks: it never crashes in a way
the agent takes as "go ahead" (Claude Code runs the call after any exit code but 2)."""
import subprocess

import pytest

from tests.integrations.hook_helpers import BLASTWALL, FLEET, MAPPING, ROOT, payload, run_hook


@pytest.mark.parametrize("agent, name", [("claude-code", "claude-bash-read.json")])   # its allow is on stdout
def test_an_allow_that_cannot_be_written_blocks(agent, name):
    assert run_hook(agent, payload(name)).exit_code == 0                 # allowed when it can answer
    proc = subprocess.Popen([*BLASTWALL, "hook", agent, "--inventory", str(FLEET), "--mapping", str(MAPPING)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.close()                                                  # nobody reads the answer
    proc.stderr.close()
    proc.stdin.write(payload(name))
    proc.stdin.close()
    assert proc.wait(timeout=60) == 2


@pytest.mark.parametrize("timeout", ["0", "-1", "601", "nan", "soon"])
def test_a_timeout_out_of_range_blocks(timeout):
    run = run_hook("claude-code", payload("claude-bash-read.json"), "--inventory", str(FLEET), "--timeout", timeout)
    assert run.exit_code == 2 and "--timeout" in run.stderr
