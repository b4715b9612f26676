from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from blastwall.service.app import create_app
from blastwall.service.gateway import Gateway
from blastwall.service.principals import hash_token, parse_principals
from blastwall.store.base import open_store
from tests.conftest import SAMPLE_FLEET

WIDE_CN = {"environments": ["prod"], "regions": ["cn-north-1", "cn-northwest-1"], "max_customers": 100000,
           "max_fleet_fraction": 0.5}
PEOPLE = {
    "kiro-ops-7": {"kind": "agent", "operator": "alice"},
    "coder-1": {"kind": "agent", "operator": "jason"},
    "alice": {"kind": "human", "roles": ["approver"], "authority": WIDE_CN},
    "bob": {"kind": "human", "roles": ["approver", "kill-switch"], "authority": WIDE_CN},
    "carol": {"kind": "human", "roles": ["approver"], "authority": WIDE_CN},
    "erin": {"kind": "human", "roles": ["approver"],
             "authority": {"environments": ["prod"], "regions": ["eu-west-1"], "max_customers": 100000,
                           "max_fleet_fraction": 0.5}},
    "root": {"kind": "human", "roles": ["approver", "kill-switch", "admin"],
             "authority": {"environments": ["*"], "regions": ["*"], "max_customers": 10**9, "max_fleet_fraction": 1.0}},
}


def token(name: str) -> str:
    return f"tok-{name}-secret"


def auth(name: str) -> dict:
    return {"Authorization": f"Bearer {token(name)}"}


class Clock:
    def __init__(self):
        self.now = datetime(2026, 3, 4, 10, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, **kw):
        self.now += timedelta(**kw)


def directory():
    return parse_principals({"principals": [{"name": n, "token_sha256": hash_token(token(n)), **p}
                                            for n, p in PEOPLE.items()]})


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def make_gateway(tmp_path, clock):
    made = []

    def make(policy=None, inventory=SAMPLE_FLEET, db=None):
        store = open_store(db or f"sqlite:///{tmp_path / 'bw.db'}")
        store.migrate()
        gw = Gateway(inventory, policy, store, directory(), clock=clock)
        made.append(store)
        return gw
    yield make
    for store in made:
        store.close()


@pytest.fixture
def gateway(make_gateway):
    return make_gateway()


@pytest.fixture
def client(gateway):
    with TestClient(create_app(gateway)) as c:
        yield c


from tests.store.conftest import pg_server, pg_url  # noqa: E402,F401  (real PostgreSQL for replica tests)
