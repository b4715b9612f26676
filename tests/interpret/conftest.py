import pytest

from blastwall.core.interpret import kubectl as kubectl_module
from blastwall.core.model import Operation, Verb

RECORDED = Operation(Verb.DELETE, target="k8s:recorded:namespace:x", note="recorded")


@pytest.fixture
def kubectl_calls(monkeypatch):
    """Replace the kubectl interpreter by a recorder; it returns one marker op (RECORDED)."""
    calls = []

    def record(argv, files=None):
        calls.append(list(argv))
        return [RECORDED]

    monkeypatch.setattr(kubectl_module, "interpret_kubectl", record)
    return calls
