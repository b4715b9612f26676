"""``kubectl get -o json`` output -> contract inventory.

Each object becomes one resource whose id is its Kubernetes alias form
(contract section 1): ``k8s:CONTEXT:KIND:NAMESPACE/NAME`` for namespaced and
``k8s:CONTEXT:KIND:NAME`` for cluster-scoped objects, KIND the lower-case kind.

Containment (``parent``), for namespaced objects only: the object named by the
first controller ownerReference when it is in the input (matched by uid), else
the namespace when it is in the input.  Pod -> ReplicaSet -> Deployment ->
Namespace chains come out of this.  ``depends_on``: a pod depends on its node
and on the PersistentVolumeClaims it mounts, a claim on its bound volume, each
only when that object is in the input (an id outside the inventory would only
be reported as unknown).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from blastwall.errors import InventoryError
from blastwall.loaders.inventory import MAX_DOCUMENT_BYTES
from blastwall.loaders.jsonfile import read_json_file

STATEFUL_KINDS = frozenset({"persistentvolumeclaim", "persistentvolume", "statefulset"})


def import_kubectl(lists: list[Mapping[str, Any]], *, context: str, env: str | None = None,
                   region: str | None = None, sources: list[str] | None = None) -> dict:
    """Contract inventory ``{"version": 1, "resources": [...]}`` from kubectl JSON documents.

    ``lists``: ``kubectl get -o json`` outputs, each a List (or a single object).
    ``sources`` names them in errors (default ``lists[N]``).
    """
    _check_context(context)
    if not isinstance(lists, (list, tuple)):
        raise InventoryError("expected a list of kubectl JSON documents", source="kubectl")
    names = sources or [f"lists[{n}]" for n in range(len(lists))]
    objects = _unique(o for document, source in zip(lists, names)
                      for o in _objects(document, context, source))
    index = _Index(objects, context)
    resources = [_resource(o, index, env, region) for o in objects]
    return {"version": 1, "resources": resources}


def load_kubectl(paths: Iterable[str | Path], *, context: str, env: str | None = None,
                 region: str | None = None) -> dict:
    """Read files written by ``kubectl get ... -o json > FILE`` and import them."""
    paths = [Path(p) for p in paths]
    documents = [read_json_file(path, MAX_DOCUMENT_BYTES, InventoryError) for path in paths]
    return import_kubectl(documents, context=context, env=env, region=region,
                          sources=[str(p) for p in paths])


def object_id(context: str, kind: str, name: str, namespace: str | None = None) -> str:
    """The contract's Kubernetes alias form."""
    kind = kind.lower()
    return f"k8s:{context}:{kind}:{namespace}/{name}" if namespace else f"k8s:{context}:{kind}:{name}"


# -- reading the documents ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Object:
    id: str
    kind: str                          # lower case
    name: str
    namespace: str | None
    uid: str | None
    body: Mapping[str, Any]


def _check_context(context: Any) -> None:
    if not isinstance(context, str) or not context or any(c.isspace() for c in context):
        raise InventoryError("the kubectl context must be a non-empty string without whitespace",
                             source="kubectl", field="context")


def _objects(document: Any, context: str, source: str) -> list[_Object]:
    """The objects of one document: a List's items, or the document itself."""
    if not isinstance(document, Mapping):
        raise InventoryError("a kubectl JSON document must be an object", source=source)
    if "items" not in document and "metadata" in document:
        return [_object(document, context, source, "")]
    items = document.get("items")
    if not isinstance(items, list):
        raise InventoryError("missing or not a list (expected 'kubectl get -o json' output)",
                             source=source, field="items")
    return [_object(item, context, source, f"items[{n}].") for n, item in enumerate(items)]


def _object(item: Any, context: str, source: str, field: str) -> _Object:
    if not isinstance(item, Mapping):
        raise InventoryError("must be an object", source=source, field=field.rstrip(".") or None)
    kind = _string(item.get("kind"), f"{field}kind", source)
    metadata = item.get("metadata")
    if not isinstance(metadata, Mapping):
        raise InventoryError("missing or not an object", source=source, field=f"{field}metadata")
    name = _string(metadata.get("name"), f"{field}metadata.name", source)
    namespace = metadata.get("namespace") or None
    if namespace is not None:
        namespace = _string(namespace, f"{field}metadata.namespace", source)
    uid = metadata.get("uid") if isinstance(metadata.get("uid"), str) else None
    return _Object(id=object_id(context, kind, name, namespace), kind=kind.lower(), name=name,
                   namespace=namespace, uid=uid, body=item)


def _unique(objects: Iterable[_Object]) -> list[_Object]:
    """First occurrence of each id (overlapping 'kubectl get' outputs repeat objects)."""
    seen: dict[str, _Object] = {}
    for o in objects:
        seen.setdefault(o.id, o)
    return list(seen.values())


class _Index:
    def __init__(self, objects: list[_Object], context: str):
        self.ids = {o.id for o in objects}
        self.by_uid = {o.uid: o for o in objects if o.uid}
        self.context = context

    def id_if_present(self, kind: str, name: str, namespace: str | None = None) -> str | None:
        candidate = object_id(self.context, kind, name, namespace)
        return candidate if candidate in self.ids else None


# -- one inventory resource ------------------------------------------------------------

def _resource(o: _Object, index: _Index, env: str | None, region: str | None) -> dict:
    resource: dict[str, Any] = {"id": o.id, "kind": o.kind}
    if env:
        resource["env"] = env
    if region:
        resource["region"] = region
    parent = _parent(o, index)
    if parent:
        resource["parent"] = parent
    resource["depends_on"] = _depends_on(o, index)
    if o.kind in STATEFUL_KINDS:
        resource["stateful"] = True
    labels = _labels(o)
    if labels:
        resource["tags"] = labels
    return resource


def _parent(o: _Object, index: _Index) -> str | None:
    if not o.namespace:
        return None
    owner = _controller_uid(o)
    if owner in index.by_uid:
        return index.by_uid[owner].id
    return index.id_if_present("namespace", o.namespace)


def _controller_uid(o: _Object) -> str | None:
    references = o.body["metadata"].get("ownerReferences")
    for reference in references if isinstance(references, list) else []:
        if isinstance(reference, Mapping) and reference.get("controller") is True:
            uid = reference.get("uid")
            return uid if isinstance(uid, str) else None
    return None


def _depends_on(o: _Object, index: _Index) -> list[str]:
    spec = o.body.get("spec")
    if not isinstance(spec, Mapping):
        return []
    found: list[str | None] = []
    if o.kind == "pod":
        found.append(_named(index, "node", spec.get("nodeName")))
        found.extend(_named(index, "persistentvolumeclaim", claim, o.namespace)
                     for claim in _claim_names(spec))
    elif o.kind == "persistentvolumeclaim":
        found.append(_named(index, "persistentvolume", spec.get("volumeName")))
    return list(dict.fromkeys(f for f in found if f))


def _named(index: _Index, kind: str, name: Any, namespace: str | None = None) -> str | None:
    return index.id_if_present(kind, name, namespace) if isinstance(name, str) and name else None


def _claim_names(pod_spec: Mapping[str, Any]) -> list[Any]:
    volumes = pod_spec.get("volumes")
    claims = []
    for volume in volumes if isinstance(volumes, list) else []:
        claim = volume.get("persistentVolumeClaim") if isinstance(volume, Mapping) else None
        if isinstance(claim, Mapping):
            claims.append(claim.get("claimName"))
    return claims


def _labels(o: _Object) -> dict[str, str]:
    labels = o.body["metadata"].get("labels")
    if not isinstance(labels, Mapping):
        return {}
    return {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}


def _string(value: Any, field: str, source: str) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise InventoryError("missing or not a non-empty string without whitespace",
                             source=source, field=field)
    return value
