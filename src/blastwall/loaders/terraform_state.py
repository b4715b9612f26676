"""Terraform state (``terraform show -json`` without a plan file) -> contract inventory.

One resource per managed resource instance; its id is the instance address, the
same string a plan's ``resource_changes[].address`` uses, so plans match it
without aliases.  Data sources are skipped.  Inventory ids hold no whitespace,
but a for_each key may (``aws_s3_bucket.b["media assets"]``): such an id gets
its whitespace %-escaped and the exact address becomes its one alias.

``depends_on`` in the state JSON holds absolute *configuration* addresses
(``module.app.terraform_data.db``: no count / for_each keys, not even on the
module).  Each is expanded to the instances it names, keeping only those in
the same module instance where the two share a module path: a resource in
``module.app["a"]`` cannot refer to one in ``module.app["b"]``.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blastwall.errors import InventoryError

DEFAULT_SOURCE = "terraform show -json"

# Resource types whose deletion destroys data.
STATEFUL_TYPES = frozenset({
    "aws_db_instance", "aws_rds_cluster", "aws_rds_cluster_instance", "aws_dynamodb_table",
    "aws_s3_bucket", "aws_ebs_volume", "aws_efs_file_system", "aws_redshift_cluster",
    "aws_docdb_cluster", "aws_neptune_cluster", "aws_opensearch_domain",
    "aws_elasticsearch_domain", "aws_kinesis_stream", "aws_msk_cluster", "aws_memorydb_cluster",
    "aws_backup_vault", "aws_glacier_vault", "aws_ecr_repository", "aws_kms_key",
    "aws_secretsmanager_secret",
    "google_sql_database_instance", "google_sql_database", "google_storage_bucket",
    "google_bigquery_dataset", "google_bigquery_table", "google_spanner_instance",
    "google_spanner_database", "google_bigtable_instance", "google_bigtable_table",
    "google_compute_disk", "google_filestore_instance", "google_redis_instance",
    "google_firestore_database", "google_alloydb_cluster", "google_kms_crypto_key",
    "azurerm_storage_account", "azurerm_storage_container", "azurerm_managed_disk",
    "azurerm_cosmosdb_account", "azurerm_redis_cache", "azurerm_key_vault",
    "azurerm_mssql_server", "azurerm_postgresql_server", "azurerm_postgresql_flexible_server",
    "azurerm_mysql_server", "azurerm_mysql_flexible_server", "azurerm_mariadb_server",
})
STATEFUL_PREFIXES = ("aws_elasticache_", "aws_fsx_")
STATEFUL_PATTERN = re.compile(r"^azurerm_\w+_database$")

ENV_TAGS = ("env", "environment")
REGION_TAGS = ("region",)


def import_terraform_state(state_json: Mapping[str, Any], *, env: str | None = None,
                           region: str | None = None, source: str = DEFAULT_SOURCE) -> dict:
    """Contract inventory ``{"version": 1, "resources": [...]}`` from a state's JSON."""
    root = _root_module(state_json, source)
    instances = _deduplicated(_walk(root, "values.root_module", (), source))
    resolver = _DependencyResolver(instances)
    resources = [_resource(i, resolver, env, region) for i in instances]
    return {"version": 1, "resources": resources}


def load_terraform_state(path: str | Path, *, env: str | None = None,
                         region: str | None = None) -> dict:
    """Read a file written by ``terraform show -json > FILE`` and import it."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InventoryError(f"cannot read: {error.strerror}", source=str(path)) from error
    except json.JSONDecodeError as error:
        raise InventoryError(f"not JSON: {error.msg}", source=str(path),
                             line=error.lineno) from error
    return import_terraform_state(document, env=env, region=region, source=str(path))


# -- reading the document ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Instance:
    address: str
    type: str
    module_steps: tuple[str, ...]      # ('module.app["a"]', 'module.db') from the root down
    values: Mapping[str, Any]
    depends_on: tuple[str, ...]
    deposed: bool


def _root_module(state: Any, source: str) -> Mapping[str, Any]:
    if not isinstance(state, Mapping):
        raise InventoryError("a Terraform state must be a JSON object", source=source)
    version = state.get("format_version")
    if not isinstance(version, str) or version.split(".")[0] != "1":
        hint = " (a raw .tfstate file? run 'terraform show -json')" if "resources" in state else ""
        raise InventoryError(f"expected format_version 1.x, got {version!r}{hint}",
                             source=source, field="format_version")
    if "values" not in state:
        if "resource_changes" in state or "planned_values" in state:
            raise InventoryError("this is a plan, not a state: run 'terraform show -json' "
                                 "without a plan file", source=source, field="values")
        return {}                      # an empty state: {"format_version": "1.0"}
    values = _mapping(state["values"], "values", source)
    return _mapping(values.get("root_module", {}), "values.root_module", source)


def _walk(module: Mapping[str, Any], field: str, steps: tuple[str, ...],
          source: str) -> list[_Instance]:
    """Managed resource instances of a module and its children, in document order."""
    instances = []
    for index, entry in enumerate(_list(module.get("resources", []), f"{field}.resources", source)):
        instance = _instance(entry, f"{field}.resources[{index}]", steps, source)
        if instance is not None:
            instances.append(instance)
    parent_address = module.get("address", "")
    children = _list(module.get("child_modules", []), f"{field}.child_modules", source)
    for index, child in enumerate(children):
        child_field = f"{field}.child_modules[{index}]"
        child = _mapping(child, child_field, source)
        step = _module_step(child, parent_address, child_field, source)
        instances.extend(_walk(child, child_field, steps + (step,), source))
    return instances


def _module_step(child: Mapping[str, Any], parent_address: str, field: str, source: str) -> str:
    """The last step of a child module's address: 'module.app["a"]'."""
    address = _string(child.get("address"), f"{field}.address", source)
    prefix = f"{parent_address}." if parent_address else ""
    if not address.startswith(prefix + "module."):
        raise InventoryError(f"module address {address!r} is not inside {parent_address or 'the root'}",
                             source=source, field=f"{field}.address")
    return address[len(prefix):]


def _instance(entry: Any, field: str, steps: tuple[str, ...], source: str) -> _Instance | None:
    entry = _mapping(entry, field, source)
    address = _string(entry.get("address"), f"{field}.address", source)
    mode = _string(entry.get("mode", "managed"), f"{field}.mode", source)
    if mode != "managed":
        return None
    depends_on = _list(entry.get("depends_on", []), f"{field}.depends_on", source)
    for index, dependency in enumerate(depends_on):
        _string(dependency, f"{field}.depends_on[{index}]", source)
    return _Instance(
        address=address,
        type=_string(entry.get("type"), f"{field}.type", source),
        module_steps=steps,
        values=_mapping(entry.get("values") or {}, f"{field}.values", source),
        depends_on=tuple(depends_on),
        deposed=bool(entry.get("deposed_key")),
    )


def _deduplicated(instances: list[_Instance]) -> list[_Instance]:
    """One per address: a deposed object shares its address with the current one."""
    by_address: dict[str, _Instance] = {}
    for instance in instances:
        kept = by_address.get(instance.address)
        if kept is None or (kept.deposed and not instance.deposed):
            by_address[instance.address] = instance
    return list(by_address.values())


# -- dependencies ------------------------------------------------------------------

class _DependencyResolver:
    """Configuration addresses (as in depends_on) -> instance addresses."""

    def __init__(self, instances: list[_Instance]):
        self._by_config: dict[str, list[_Instance]] = {}
        for instance in instances:
            self._by_config.setdefault(strip_instance_keys(instance.address), []).append(instance)

    def resolve(self, instance: _Instance) -> list[str]:
        resolved: list[str] = []
        for dependency in instance.depends_on:
            for candidate in self._by_config.get(strip_instance_keys(dependency), []):
                if (candidate.address != instance.address and candidate.address not in resolved
                        and _same_module_instances(instance.module_steps, candidate.module_steps)):
                    resolved.append(candidate.address)
        return resolved


def _same_module_instances(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Along the module path both share, the instance keys agree."""
    for step_a, step_b in zip(a, b):
        if strip_instance_keys(step_a) != strip_instance_keys(step_b):
            return True
        if step_a != step_b:
            return False
    return True


def strip_instance_keys(address: str) -> str:
    """'module.app["a.b"].aws_x.y[0]' -> 'module.app.aws_x.y' (quotes and escapes respected)."""
    kept = []
    depth, in_string, escaped = 0, False, False
    for char in address:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == "[":
            depth += 1
        elif char == "]":
            depth = max(depth - 1, 0)
        elif depth:
            in_string = char == '"'
        else:
            kept.append(char)
    return "".join(kept)


# -- one inventory resource -----------------------------------------------------------

def _resource(instance: _Instance, resolver: _DependencyResolver,
              env: str | None, region: str | None) -> dict:
    tags = _tags(instance.values)
    resource: dict[str, Any] = {"id": inventory_id(instance.address), "kind": instance.type}
    if resource["id"] != instance.address:
        resource["aliases"] = [instance.address]
    env = env or _first_tag(tags, ENV_TAGS)
    region = region or _first_tag(tags, REGION_TAGS) or _string_or_none(instance.values.get("region"))
    if env:
        resource["env"] = env
    if region:
        resource["region"] = region
    resource["depends_on"] = [inventory_id(a) for a in resolver.resolve(instance)]
    if is_stateful_type(instance.type):
        resource["stateful"] = True
    if tags:
        resource["tags"] = tags
    return resource


def inventory_id(address: str) -> str:
    """The address, with any whitespace %-escaped (ids hold none)."""
    return _WHITESPACE.sub(lambda match: f"%{ord(match.group()):02X}", address)


_WHITESPACE = re.compile(r"\s")


def is_stateful_type(resource_type: str) -> bool:
    return (resource_type in STATEFUL_TYPES or resource_type.startswith(STATEFUL_PREFIXES)
            or bool(STATEFUL_PATTERN.match(resource_type)))


def _tags(values: Mapping[str, Any]) -> dict[str, str]:
    """String tags (AWS tags_all, tags; Google labels), later ones winning."""
    tags: dict[str, str] = {}
    for key in ("tags_all", "tags", "labels"):
        found = values.get(key)
        if isinstance(found, Mapping):
            tags.update({k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str)})
    return tags


def _first_tag(tags: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if tags.get(name):
            return tags[name]
    return None


# -- small validators ---------------------------------------------------------------

def _mapping(value: Any, field: str, source: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InventoryError("must be an object", source=source, field=field)
    return value


def _list(value: Any, field: str, source: str) -> list:
    if not isinstance(value, (list, tuple)):
        raise InventoryError("must be a list", source=source, field=field)
    return list(value)


def _string(value: Any, field: str, source: str) -> str:
    if not isinstance(value, str) or not value:
        raise InventoryError("missing or not a non-empty string", source=source, field=field)
    return value


def _string_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
