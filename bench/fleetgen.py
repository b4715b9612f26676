"""Synthetic fleets with a realistic shape, deterministic by seed, as contract JSONL.

Shape: a few global platform nodes (backbone network, DNS, IAM per environment,
observability, image registry) with huge fan-in; per environment and region an
environment, a VPC, a DNS zone and a KMS key; per cell a Kubernetes cluster with
nodes, cluster DNS, one namespace and service account per team; per service a
Service, a Deployment, a ConfigMap, a Secret, an alarm and pods (the leaves),
sometimes a stateful database, and for front-end services a load balancer that
declares customers.  Services come in four tiers and depend on deeper tiers with
Zipf-skewed popularity.  About five edges (parent + depends_on) per resource.

    python bench/fleetgen.py --resources 1000000 --seed 7 -o fleet.jsonl
    python bench/fleetgen.py --check        # ~2,000 resources, loaded and checked
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

VERSION = 1   # bump when the output for a given (resources, seed) changes
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1",
           "ap-southeast-1", "ap-northeast-1", "sa-east-1", "cn-north-1"]
ENVS = {"prod": (0.52, 8), "staging": (0.28, 4), "dev": (0.20, 2)}   # fleet share, regions
TEAMS = ["payments", "checkout", "search", "identity", "catalog", "shipping", "ads", "data"]
MESH = frozenset(TEAMS[:6])           # teams whose pods carry the service-mesh sidecar
WORDS = ["orders", "cart", "pricing", "auth", "profile", "stock", "billing", "ledger",
         "notify", "media", "reco", "gateway", "quotes", "tax", "risk", "feeds"]
TIERS = (0.10, 0.30, 0.35, 0.25)     # front-end, mid, backend, core: shares of a cell's services
CELL_SIZE = 6000                      # resources per cell, roughly
PER_SERVICE = 12.7                    # resources per service, on average (pods included)
PLATFORM = ["net/backbone", "dns/global", "obs/global", "registry/global"] + [f"iam/{e}" for e in ENVS]


@dataclass
class Cell:
    env: str
    region: str
    name: str
    nodes: int
    tier: list[int] = field(default_factory=list)          # tier of each service
    upstream: list[list[int]] = field(default_factory=list)  # services each service depends on
    pods: list[int] = field(default_factory=list)
    db: list[bool] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"{self.env}-{self.region}-{self.name}"

    def size(self) -> int:
        fixed = 3 + self.nodes + 2 * len(TEAMS)             # cluster, cluster DNS, mesh, nodes, ns + sa per team
        lbs = sum(1 for t in self.tier if t == 0)
        return fixed + 5 * len(self.tier) + sum(self.pods) + sum(self.db) + lbs


def plan(n: int, seed: int) -> list[Cell]:
    """Cells with their services, sized so the fleet has exactly ``n`` resources."""
    rng = random.Random(seed)
    cells: list[Cell] = []
    regional = sum(4 * k for _, k in ENVS.values())          # env, vpc, zone, kms per env-region
    for env, (share, nreg) in ENVS.items():
        budget = share * (n - len(PLATFORM) - regional)
        per_region = max(1, round(budget / nreg / CELL_SIZE))
        size = budget / nreg / per_region
        for region in REGIONS[:nreg]:
            for c in range(per_region):
                cell = Cell(env, region, f"c{c + 1:02d}", nodes=max(2, round(size / 60)))
                _services(cell, max(4, round((size - 3 - 2 * len(TEAMS)) / PER_SERVICE)), rng)
                cells.append(cell)
    _fit(cells, n - len(PLATFORM) - regional, rng)
    return cells


def _services(cell: Cell, count: int, rng: random.Random) -> None:
    bounds = list(itertools.accumulate(round(s * count) for s in TIERS))
    bounds[-1] = count
    starts = [0] + bounds[:-1]
    # Zipf popularity: the first services of a tier are everybody's dependency
    zipf = [list(itertools.accumulate(1 / (r + 1) for r in range(b - a))) for a, b in zip(starts, bounds)]
    for i in range(count):
        tier = next(t for t, b in enumerate(bounds) if i < b)
        up: set[int] = set()
        if tier < 3:
            for _ in range(rng.choice((1, 2, 2, 3, 3, 4))):
                deeper = tier + 1 if rng.random() < 0.75 else rng.randint(tier + 1, 3)
                if zipf[deeper]:
                    up.add(starts[deeper] + rng.choices(range(len(zipf[deeper])), cum_weights=zipf[deeper])[0])
        cell.tier.append(tier)
        cell.upstream.append(sorted(up))
        cell.pods.append(rng.randint(2, 12))
        cell.db.append(tier >= 2 and rng.random() < 0.3)


def _fit(cells: list[Cell], target: int, rng: random.Random) -> None:
    """Add or remove pods until the cells hold exactly ``target`` resources."""
    diff = target - sum(c.size() for c in cells)
    slots = [(c, i) for c in cells for i in range(len(c.pods))]
    while diff:
        c, i = rng.choice(slots)
        if diff > 0:
            c.pods[i] += 1
            diff -= 1
        elif c.pods[i] > 1:
            c.pods[i] -= 1
            diff += 1
        elif all(c.pods[i] == 1 for c, i in slots):
            raise ValueError("too few resources for the fleet's fixed structure; ask for more")


def service_name(i: int) -> str:
    return f"{WORDS[i % len(WORDS)]}-{i:04d}"


def resources(cells: list[Cell], seed: int):
    """Yield every resource (contract section 1) as a dict."""
    rng = random.Random(seed + 1)
    yield _r("net/backbone", "network", "prod", "global", "netops", cost=50000.0, tier="critical")
    yield _r("dns/global", "dns", "prod", "global", "netops", deps=["net/backbone"], cost=800.0, tier="critical")
    yield _r("obs/global", "observability", "prod", "global", "sre", deps=["net/backbone"], cost=12000.0)
    yield _r("registry/global", "registry", "prod", "global", "platform", deps=["net/backbone"], cost=3000.0)
    for env in ENVS:
        yield _r(f"iam/{env}", "iam", env, "global", "security", tier="critical")
    for env, (_, nreg) in ENVS.items():
        for region in REGIONS[:nreg]:
            er = f"{env}-{region}"
            yield _r(f"env/{er}", "environment", env, region, "platform")
            yield _r(f"net/vpc-{er}", "network", env, region, "netops", parent=f"env/{er}",
                     deps=["net/backbone"], cost=300.0)
            yield _r(f"dns/{er}", "dns", env, region, "netops", parent=f"env/{er}", deps=["dns/global"])
            yield _r(f"kms/{er}", "kms", env, region, "security", parent=f"env/{er}", deps=[f"iam/{env}"],
                     cost=50.0)
    for cell in cells:
        yield from _cell(cell, rng)


def _cell(cell: Cell, rng: random.Random):
    env, region, p = cell.env, cell.region, cell.path
    er = f"{env}-{region}"
    prod = env == "prod"
    cluster, kdns, mesh = f"cluster/{p}", f"svc/{p}/kube-system/kube-dns", f"svc/{p}/istio-system/istiod"
    yield _r(cluster, "cluster", env, region, "platform", cell.name, parent=f"env/{er}",
             deps=[f"net/vpc-{er}", f"iam/{env}", f"kms/{er}"], cost=2500.0, tier="critical",
             aliases=[f"module.{env}_{region.replace('-', '_')}.aws_eks_cluster.{cell.name}"])
    yield _r(kdns, "service", env, region, "platform", cell.name, parent=cluster, tier="critical",
             aliases=[f"k8s:{p}:service:kube-system/kube-dns"])
    yield _r(mesh, "service", env, region, "platform", cell.name, parent=cluster, deps=[kdns], tier="critical",
             aliases=[f"k8s:{p}:service:istio-system/istiod"])
    nodes = [f"node/{p}/n{k:03d}" for k in range(cell.nodes)]
    for node in nodes:
        yield _r(node, "node", env, region, "platform", cell.name, parent=cluster, deps=[f"net/vpc-{er}"],
                 cost=round(rng.uniform(150, 900), 2), aliases=[f"k8s:{p}:node:{node.rsplit('/', 1)[1]}"])
    for team in TEAMS:
        yield _r(f"ns/{p}/{team}", "namespace", env, region, team, cell.name, parent=cluster,
                 deps=[f"iam/{env}"], aliases=[f"k8s:{p}:namespace:{team}"])
        yield _r(f"sa/{p}/{team}", "serviceaccount", env, region, team, cell.name, parent=f"ns/{p}/{team}",
                 deps=[f"iam/{env}"])
    for i, tier in enumerate(cell.tier):
        team, name = TEAMS[i % len(TEAMS)], service_name(i)
        base = f"{p}/{team}/{name}"
        svc, dep, cm, sec = f"svc/{base}", f"deploy/{base}", f"cm/{base}", f"secret/{base}"
        deps = [f"dns/{er}"] + [f"svc/{p}/{TEAMS[j % len(TEAMS)]}/{service_name(j)}" for j in cell.upstream[i]]
        if cell.db[i]:
            db = f"db/{base}"
            deps.append(db)
            yield _r(db, "database", env, region, team, cell.name, parent=f"env/{er}",
                     deps=[f"net/vpc-{er}", f"kms/{er}"], cost=round(rng.uniform(400, 6000), 2),
                     stateful=True, tier="critical" if prod else "standard",
                     aliases=[f"module.{env}_{region.replace('-', '_')}.aws_db_instance.{cell.name}_{name}"])
        label = ("frontend", "standard", "standard", "critical")[tier]
        yield _r(svc, "service", env, region, team, cell.name, parent=f"ns/{p}/{team}", deps=deps, tier=label,
                 aliases=[f"k8s:{p}:service:{team}/{name}"])
        yield _r(dep, "deployment", env, region, team, cell.name, parent=svc,
                 deps=[cm, sec, f"sa/{p}/{team}", "registry/global"], tier=label,
                 aliases=[f"k8s:{p}:deployment:{team}/{name}"])
        yield _r(cm, "configmap", env, region, team, cell.name, parent=svc)
        yield _r(sec, "secret", env, region, team, cell.name, parent=svc, deps=[f"kms/{er}"])
        yield _r(f"alarm/{base}", "alarm", env, region, team, cell.name, parent=svc,
                 deps=["obs/global"] + ([f"dns/{er}"] if prod else []))
        for k in range(cell.pods[i]):
            yield _r(f"pod/{base}-{k}", "pod", env, region, team, cell.name, parent=dep,
                     deps=[rng.choice(nodes), cm, sec, f"sa/{p}/{team}", kdns] + ([mesh] if team in MESH else []))
        if tier == 0:
            yield _r(f"lb/{base}", "load_balancer", env, region, team, cell.name, parent=f"env/{er}",
                     deps=[svc, f"dns/{er}", f"net/vpc-{er}"], cost=round(rng.uniform(20, 60), 2),
                     customers=int(rng.paretovariate(1.2) * 2000) if prod else 0, tier="frontend")


def _r(rid, kind, env, region, owner, cell=None, parent=None, deps=(), cost=0.0, customers=None,
       stateful=False, tier=None, aliases=None) -> dict:
    r = {"id": rid, "kind": kind, "env": env, "region": region, "owner": owner}
    if cell:
        r["cell"] = cell
    if parent:
        r["parent"] = parent
    r["depends_on"] = list(deps)
    r["cost_per_month"] = cost
    if customers is not None:
        r["customers"] = customers
    if stateful:
        r["stateful"] = True
    r["tags"] = {"team": owner, "tier": tier} if tier else {"team": owner}
    if aliases:
        r["aliases"] = aliases
    return r


def landmarks(cells: list[Cell]) -> dict[str, str]:
    """Query targets for the benchmark: a leaf pod, a popular mid-tier service, a platform node."""
    cell = next(c for c in cells if c.env == "prod")
    mid = next(i for i, t in enumerate(cell.tier) if t == 2)     # the most popular backend service
    base = f"{cell.path}/{TEAMS[mid % len(TEAMS)]}/{service_name(mid)}"
    leaf = f"pod/{cell.path}/{TEAMS[0]}/{service_name(0)}-0"
    return {"leaf": leaf, "mid": f"svc/{base}", "platform": "iam/prod"}


def write_jsonl(path: str | Path, n: int, seed: int) -> dict[str, str]:
    """Write the fleet; return its landmarks."""
    cells = plan(n, seed)
    dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
    with open(path, "w", encoding="utf-8") as fh:
        for chunk in _batched(resources(cells, seed), 20000):
            fh.write("\n".join(map(dumps, chunk)))
            fh.write("\n")
    return landmarks(cells)


def _batched(it, size):
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def check(n: int = 2000, seed: int = 1) -> dict:
    """Generate a small fleet, load it with blastwall, return figures (raises if malformed)."""
    import tempfile
    from blastwall.loaders.inventory import load_inventory
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.jsonl"
        marks = write_jsonl(path, n, seed)
        text = path.read_text().splitlines()
        fleet = load_inventory(path)
    edges = sum(len(r.get("depends_on", [])) + bool(r.get("parent")) for r in map(json.loads, text))
    assert fleet.size == len(text) == n, (fleet.size, len(text), n)
    assert all(fleet.lookup(t) >= 0 for t in marks.values()), marks
    return {"resources": fleet.size, "edges_per_resource": edges / n, "landmarks": marks}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resources", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("-o", "--output", help="JSONL file to write")
    ap.add_argument("--check", action="store_true", help="generate ~2,000 resources and load them")
    args = ap.parse_args(argv)
    if args.check:
        print(json.dumps(check(), indent=1))
        return 0
    if not args.output:
        ap.error("-o FILE is required (or --check)")
    t0 = time.perf_counter()
    marks = write_jsonl(args.output, args.resources, args.seed)
    print(f"wrote {args.output}: {args.resources:,} resources in {time.perf_counter() - t0:.1f} s; "
          f"landmarks {marks}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
