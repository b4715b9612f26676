"""A deliberately plain reading of contract section 1, to check the fast engine against."""
from collections import deque

DESTRUCTIVE = {"delete", "replace"}
CHANGE = {"update", "restart", "scale"}
TARGETING = DESTRUCTIVE | CHANGE | {"exec"}


def reach(start, edges):
    seen, queue = set(start), deque(start)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def reference_impact(resources, ops):
    by_id = {r["id"]: r for r in resources}
    children, dependents = {}, {}
    for r in resources:
        if r.get("parent"):
            children.setdefault(r["parent"], []).append(r["id"])
            dependents.setdefault(r["parent"], []).append(r["id"])
        for d in r.get("depends_on", []):
            dependents.setdefault(d, []).append(r["id"])
    targets = {t for v, t in ops if v in TARGETING and t in by_id}
    deleted = reach({t for v, t in ops if v in DESTRUCTIVE and t in by_id}, children)
    changed = {t for v, t in ops if v in CHANGE and t in by_id}
    degraded = reach(deleted | changed, dependents) - deleted
    touched = deleted | degraded | targets
    removed = reach({t for v, t in ops if v == "delete" and t in by_id}, children)
    replaced = reach({t for v, t in ops if v == "replace" and t in by_id}, children)
    return {
        "targets": sorted(targets), "deleted": len(deleted), "degraded": len(degraded),
        "resources": len(touched),
        "environments": sorted({by_id[i].get("env", "unknown") for i in touched}),
        "regions": sorted({by_id[i].get("region", "unknown") for i in touched}),
        "customers": sum(by_id[i].get("customers", 0) for i in touched),
        "stateful_deleted": sum(1 for i in deleted if by_id[i].get("stateful")),
        "cost_delta_per_month": -sum(by_id[i].get("cost_per_month", 0.0) for i in removed - replaced),
        "unknown_targets": sorted({t for v, t in ops if t not in by_id and v != "create"}),
    }
