import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FLEET = ROOT / "src" / "blastwall" / "data" / "sample-fleet.json"
T0 = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)   # a Wednesday


@pytest.fixture(scope="session")
def sample_fleet():
    from blastwall.loaders.inventory import load_inventory
    return load_inventory(SAMPLE_FLEET)


@pytest.fixture(scope="session")
def recommended():
    from blastwall.loaders.policy import load_policy
    return load_policy()


def has_terraform() -> bool:
    return shutil.which("terraform") is not None


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """A real `blastwall serve` on SQLite for the test module (the demo principals of tests/service)."""
    from tests.service.procs import Service
    tmp = tmp_path_factory.mktemp("svc")
    svc = Service(tmp, f"sqlite:///{tmp / 'bw.db'}").wait_ready()
    yield svc
    svc.kill(15)
