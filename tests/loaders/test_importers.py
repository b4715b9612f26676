"""Inventory importers: kubectl JSON and Terraform state JSON -> contract inventory."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from blastwall.errors import InventoryError
from blastwall.loaders.kubectl import import_kubectl, load_kubectl, object_id
from blastwall.loaders.terraform_state import (
    import_terraform_state, is_stateful_type, load_terraform_state, strip_instance_keys)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KUBECTL = FIXTURES / "kubectl"
TERRAFORM = FIXTURES / "terraform"
KUBECTL_FILES = ["namespaces.json", "cluster.json", "shop.json", "kube-system.json"]
CTX = "k8s:prod-us-east-1"


def kubectl_inventory(**kwargs) -> dict:
    kwargs.setdefault("context", "prod-us-east-1")
    return load_kubectl([KUBECTL / f for f in KUBECTL_FILES], **kwargs)


def by_id(inventory: dict) -> dict[str, dict]:
    return {r["id"]: r for r in inventory["resources"]}


# -- kubectl ------------------------------------------------------------------------------

WEB_LABELS = {"app": "web", "pod-template-hash": "7d4b9c8f6d", "tier": "frontend"}
NODE_1 = f"{CTX}:node:ip-10-0-1-12.ec2.internal"
NODE_2 = f"{CTX}:node:ip-10-0-2-34.ec2.internal"
VOLUME = f"{CTX}:persistentvolume:pvc-5f0c2a8e-6b1d-4f7a-9e3c-2d4b6a8c0e11"
SHOP = f"{CTX}:namespace:shop"


def node_labels(name: str, zone: str) -> dict:
    return {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": "m6i.xlarge",
            "topology.kubernetes.io/region": "us-east-1", "topology.kubernetes.io/zone": zone}


EXPECTED_KUBECTL = [
    {"id": SHOP, "kind": "namespace", "depends_on": [],
     "tags": {"kubernetes.io/metadata.name": "shop", "team": "storefront"}},
    {"id": NODE_1, "kind": "node", "depends_on": [],
     "tags": node_labels("ip-10-0-1-12.ec2.internal", "us-east-1a")},
    {"id": NODE_2, "kind": "node", "depends_on": [],
     "tags": node_labels("ip-10-0-2-34.ec2.internal", "us-east-1b")},
    {"id": VOLUME, "kind": "persistentvolume", "depends_on": [], "stateful": True},
    {"id": f"{CTX}:deployment:shop/web", "kind": "deployment", "parent": SHOP, "depends_on": [],
     "tags": {"app": "web", "tier": "frontend"}},
    {"id": f"{CTX}:replicaset:shop/web-7d4b9c8f6d", "kind": "replicaset",
     "parent": f"{CTX}:deployment:shop/web", "depends_on": [], "tags": WEB_LABELS},
    {"id": f"{CTX}:pod:shop/web-7d4b9c8f6d-x2x9k", "kind": "pod",
     "parent": f"{CTX}:replicaset:shop/web-7d4b9c8f6d", "depends_on": [NODE_1], "tags": WEB_LABELS},
    {"id": f"{CTX}:pod:shop/web-7d4b9c8f6d-q8m2d", "kind": "pod",
     "parent": f"{CTX}:replicaset:shop/web-7d4b9c8f6d", "depends_on": [NODE_2], "tags": WEB_LABELS},
    {"id": f"{CTX}:service:shop/web", "kind": "service", "parent": SHOP, "depends_on": [],
     "tags": {"app": "web"}},
    {"id": f"{CTX}:statefulset:shop/db", "kind": "statefulset", "parent": SHOP, "depends_on": [],
     "stateful": True, "tags": {"app": "db", "tier": "data"}},
    {"id": f"{CTX}:pod:shop/db-0", "kind": "pod", "parent": f"{CTX}:statefulset:shop/db",
     "depends_on": [NODE_2, f"{CTX}:persistentvolumeclaim:shop/data-db-0"],
     "tags": {"app": "db", "apps.kubernetes.io/pod-index": "0",
              "statefulset.kubernetes.io/pod-name": "db-0", "tier": "data"}},
    {"id": f"{CTX}:persistentvolumeclaim:shop/data-db-0", "kind": "persistentvolumeclaim",
     "parent": SHOP, "depends_on": [VOLUME], "stateful": True, "tags": {"app": "db"}},
    # Owned by job 'migrate', which is not in the input; its node is not either.
    {"id": f"{CTX}:pod:shop/migrate-28m4q", "kind": "pod", "parent": SHOP, "depends_on": [],
     "tags": {"batch.kubernetes.io/job-name": "migrate", "job-name": "migrate"}},
    # Neither its replicaset nor its namespace is in the input: no parent.
    {"id": f"{CTX}:pod:kube-system/coredns-5c8d9f7b6-7hn2p", "kind": "pod", "depends_on": [NODE_1],
     "tags": {"k8s-app": "kube-dns", "pod-template-hash": "5c8d9f7b6"}},
]


def test_kubectl_import_is_exact():
    assert kubectl_inventory() == {"version": 1, "resources": EXPECTED_KUBECTL}


def test_kubectl_env_and_region_come_from_the_arguments():
    resources = kubectl_inventory(env="prod", region="us-east-1")["resources"]
    assert all((r["env"], r["region"]) == ("prod", "us-east-1") for r in resources)
    assert [{k: v for k, v in r.items() if k not in ("env", "region")} for r in resources] == \
        EXPECTED_KUBECTL


def parent_chain(resources: dict[str, dict], start: str) -> list[str]:
    chain = [start]
    while "parent" in resources[chain[-1]]:
        chain.append(resources[chain[-1]]["parent"])
    return chain


def test_owner_chains_lead_to_the_namespace():
    resources = by_id(kubectl_inventory())
    assert parent_chain(resources, f"{CTX}:pod:shop/web-7d4b9c8f6d-x2x9k") == [
        f"{CTX}:pod:shop/web-7d4b9c8f6d-x2x9k", f"{CTX}:replicaset:shop/web-7d4b9c8f6d",
        f"{CTX}:deployment:shop/web", SHOP]
    assert parent_chain(resources, f"{CTX}:pod:shop/db-0") == [
        f"{CTX}:pod:shop/db-0", f"{CTX}:statefulset:shop/db", SHOP]


def test_every_reference_is_in_the_inventory():
    resources = by_id(kubectl_inventory())
    for resource in resources.values():
        for reference in resource["depends_on"] + [resource.get("parent", SHOP)]:
            assert reference in resources


def test_ids_are_the_contract_alias_form():
    assert object_id("prod-cn", "Namespace", "payments") == "k8s:prod-cn:namespace:payments"
    assert object_id("prod-cn", "StatefulSet", "db", "payments") == \
        "k8s:prod-cn:statefulset:payments/db"
    assert all("aliases" not in r for r in kubectl_inventory()["resources"])


def test_context_with_colons_is_kept_whole():
    arn = "arn:aws:eks:us-east-1:123456789012:cluster/prod"
    inventory = load_kubectl([KUBECTL / f for f in KUBECTL_FILES], context=arn)
    pod = by_id(inventory)[f"k8s:{arn}:pod:shop/db-0"]
    assert pod["parent"] == f"k8s:{arn}:statefulset:shop/db"
    assert pod["depends_on"][0] == f"k8s:{arn}:node:ip-10-0-2-34.ec2.internal"


def namespace_object(name: str = "payments") -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "uid": "u-1"}}


def test_a_single_object_document_and_repeats_are_accepted():
    pods = {"kind": "List", "items": [
        {"kind": "Pod", "metadata": {"name": "p", "namespace": "payments"}, "spec": {}}]}
    inventory = import_kubectl([namespace_object(), pods, pods], context="c")
    assert inventory["resources"] == [
        {"id": "k8s:c:namespace:payments", "kind": "namespace", "depends_on": []},
        {"id": "k8s:c:pod:payments/p", "kind": "pod", "parent": "k8s:c:namespace:payments",
         "depends_on": []},
    ]


def test_only_a_controller_owner_is_a_parent():
    owner = {"kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "payments", "uid": "u-2"}}
    owned = {"kind": "Secret", "metadata": {
        "name": "s", "namespace": "payments",
        "ownerReferences": [{"kind": "ConfigMap", "name": "cm", "uid": "u-2"}]}}
    resources = by_id(import_kubectl([{"items": [namespace_object(), owner, owned]}], context="c"))
    assert resources["k8s:c:secret:payments/s"]["parent"] == "k8s:c:namespace:payments"


def items_with(broken_item: dict) -> dict:
    good = {"kind": "Pod", "metadata": {"name": "ok", "namespace": "n"}}
    return {"kind": "List", "items": [good, good, good, broken_item]}


@pytest.mark.parametrize("document, source, field", [
    (items_with({"kind": "Pod", "metadata": {"namespace": "n"}}), "lists[1]", "items[3].metadata.name"),
    (items_with({"kind": "Pod", "metadata": {"name": ""}}), "lists[1]", "items[3].metadata.name"),
    (items_with({"kind": "Pod", "metadata": {"name": "a b"}}), "lists[1]", "items[3].metadata.name"),
    (items_with({"metadata": {"name": "x"}}), "lists[1]", "items[3].kind"),
    (items_with({"kind": "Pod"}), "lists[1]", "items[3].metadata"),
    (items_with({"kind": "Pod", "metadata": {"name": "x", "namespace": 4}}), "lists[1]",
     "items[3].metadata.namespace"),
    (items_with("pod"), "lists[1]", "items[3]"),
    ({"kind": "List", "items": {}}, "lists[1]", "items"),
    ([], "lists[1]", None),
])
def test_kubectl_errors_name_the_item(document, source, field):
    with pytest.raises(InventoryError) as raised:
        import_kubectl([{"kind": "List", "items": []}, document], context="c")
    assert (raised.value.source, raised.value.field) == (source, field)


@pytest.mark.parametrize("context", ["", "two words", None])
def test_kubectl_context_must_be_a_word(context):
    with pytest.raises(InventoryError) as raised:
        import_kubectl([], context=context)
    assert raised.value.field == "context"


def test_load_kubectl_names_the_file_at_fault(tmp_path):
    bad = tmp_path / "pods.json"
    bad.write_text('{"kind": "List",\n "items": [}')
    with pytest.raises(InventoryError) as raised:
        load_kubectl([bad], context="c")
    assert (raised.value.source, raised.value.line) == (str(bad), 2)
    bad.write_text(json.dumps({"kind": "List", "items": [{"kind": "Pod", "metadata": {}}]}))
    with pytest.raises(InventoryError, match="pods.json.*items\\[0\\].metadata.name"):
        load_kubectl([bad], context="c")


# -- terraform state ----------------------------------------------------------------------

def state(name: str) -> dict:
    return json.loads((TERRAFORM / f"{name}.state.json").read_text())


def tf(address: str, *depends_on: str) -> dict:
    return {"id": address, "kind": "terraform_data", "depends_on": list(depends_on)}


PROD = "module.prod_us_us_east_1.terraform_data"
STAGING = "module.staging_us_us_east_1.terraform_data"


def test_module_state_import_is_exact():
    assert import_terraform_state(state("module")) == {"version": 1, "resources": [
        tf("terraform_data.edge", f"{PROD}.api[0]", f"{PROD}.api[1]", f"{PROD}.orders_db",
           f"{PROD}.payments_db", f"{STAGING}.api[0]", f"{STAGING}.orders_db",
           f"{STAGING}.payments_db"),
        tf(f"{PROD}.api[0]", f"{PROD}.orders_db", f"{PROD}.payments_db"),
        tf(f"{PROD}.api[1]", f"{PROD}.orders_db", f"{PROD}.payments_db"),
        tf(f"{PROD}.orders_db"),
        tf(f"{PROD}.payments_db"),
        tf(f"{STAGING}.api[0]", f"{STAGING}.orders_db", f"{STAGING}.payments_db"),
        tf(f"{STAGING}.orders_db"),
        tf(f"{STAGING}.payments_db"),
    ]}


def test_for_each_module_instances_depend_only_on_their_own_instance():
    resources = by_id(import_terraform_state(state("destroy"), env="prod", region="eu-west-1"))
    assert resources['module.cell["a"].terraform_data.api[0]'] == {
        "id": 'module.cell["a"].terraform_data.api[0]', "kind": "terraform_data",
        "env": "prod", "region": "eu-west-1",
        "depends_on": ['module.cell["a"].terraform_data.orders_db',
                       'module.cell["a"].terraform_data.payments_db']}
    assert resources['module.cell["b"].terraform_data.api[0]']["depends_on"] == [
        'module.cell["b"].terraform_data.orders_db', 'module.cell["b"].terraform_data.payments_db']
    assert len(resources) == 12


def test_state_ids_are_the_plan_addresses():
    """Every address a plan deletes or changes is an id of the prior state's inventory."""
    from blastwall.core.interpret.terraform_plan import interpret_plan
    for name in ("module", "destroy", "delete", "replace", "update", "deposed"):
        ids = set(by_id(import_terraform_state(state(name))))
        plan = json.loads((TERRAFORM / f"{name}.plan.json").read_text())
        changed = {op.target for op in interpret_plan(plan) if op.verb.value != "create"}
        assert changed <= ids, name


def test_data_sources_are_skipped_and_not_depended_on():
    assert import_terraform_state(state("data_read"))["resources"] == [
        tf("terraform_data.consumer", "terraform_data.source"),
        tf("terraform_data.source"),
    ]


def test_a_deposed_object_does_not_duplicate_its_address():
    assert import_terraform_state(state("deposed"))["resources"] == [tf("terraform_data.server")]


def test_empty_state_gives_an_empty_inventory():
    assert import_terraform_state(state("empty")) == {"version": 1, "resources": []}
    assert import_terraform_state({"format_version": "1.0"}) == {"version": 1, "resources": []}


def aws_state(*resources: dict) -> dict:
    return {"format_version": "1.0", "values": {"root_module": {"resources": list(resources)}}}


def aws(address: str, type_: str, values: dict, **extra) -> dict:
    return {"address": address, "mode": "managed", "type": type_, "name": address.split(".")[-1],
            "values": values, **extra}


def test_tags_give_env_region_and_tags_and_stateful_types_are_marked():
    inventory = import_terraform_state(aws_state(
        aws("aws_db_instance.orders", "aws_db_instance",
            {"identifier": "orders", "tags": {"environment": "prod", "team": "orders"},
             "tags_all": {"environment": "prod", "team": "orders", "region": "us-east-1", "cost": 3}}),
        aws("aws_instance.api", "aws_instance", {"tags": None, "region": "eu-west-1"},
            depends_on=["aws_db_instance.orders", "data.aws_ami.base", "aws_gone.x"]),
        aws("data.aws_ami.base", "aws_ami", {}, mode="data"),
    ))
    assert inventory["resources"] == [
        {"id": "aws_db_instance.orders", "kind": "aws_db_instance", "env": "prod",
         "region": "us-east-1", "depends_on": [], "stateful": True,
         "tags": {"environment": "prod", "team": "orders", "region": "us-east-1"}},
        {"id": "aws_instance.api", "kind": "aws_instance", "region": "eu-west-1",
         "depends_on": ["aws_db_instance.orders"]},
    ]


def test_arguments_win_over_tags():
    [resource] = import_terraform_state(aws_state(
        aws("aws_s3_bucket.logs", "aws_s3_bucket", {"tags": {"env": "dev", "region": "x"}})),
        env="prod", region="cn-north-1")["resources"]
    assert (resource["env"], resource["region"]) == ("prod", "cn-north-1")


def test_addresses_with_whitespace_get_an_escaped_id_and_the_address_as_alias():
    address = 'aws_s3_bucket.media["media assets"]'
    inventory = import_terraform_state(aws_state(
        aws(address, "aws_s3_bucket", {}, index="media assets"),
        aws("aws_cloudfront_distribution.cdn", "aws_cloudfront_distribution", {},
            depends_on=["aws_s3_bucket.media"])))
    assert inventory["resources"] == [
        {"id": 'aws_s3_bucket.media["media%20assets"]', "aliases": [address],
         "kind": "aws_s3_bucket", "depends_on": [], "stateful": True},
        {"id": "aws_cloudfront_distribution.cdn", "kind": "aws_cloudfront_distribution",
         "depends_on": ['aws_s3_bucket.media["media%20assets"]']},
    ]


@pytest.mark.parametrize("resource_type, stateful", [
    ("aws_db_instance", True), ("aws_rds_cluster", True), ("aws_dynamodb_table", True),
    ("aws_s3_bucket", True), ("google_sql_database_instance", True),
    ("azurerm_mssql_database", True), ("azurerm_postgresql_flexible_server_database", True),
    ("aws_ebs_volume", True), ("aws_efs_file_system", True),
    ("aws_elasticache_replication_group", True), ("google_storage_bucket", True),
    ("aws_instance", False), ("terraform_data", False), ("aws_security_group", False),
    ("azurerm_database_thing", False),
])
def test_stateful_types(resource_type, stateful):
    assert is_stateful_type(resource_type) is stateful


def test_strip_instance_keys_respects_quotes():
    assert strip_instance_keys('module.a["x].y"].module.b[0].aws_x.y["k\\"]"]') == \
        "module.a.module.b.aws_x.y"


def with_child(resources: list) -> dict:
    return {"format_version": "1.0", "values": {"root_module": {"child_modules": [
        {"address": "module.a", "resources": [{"address": "module.a.x.y", "mode": "managed",
                                               "type": "x"}]},
        {"address": "module.b", "resources": resources}]}}}


@pytest.mark.parametrize("document, field", [
    ({"format_version": "2.0", "values": {}}, "format_version"),
    ({"version": 4, "resources": []}, "format_version"),
    ({"format_version": "1.0", "values": []}, "values"),
    ({"format_version": "1.0", "values": {"root_module": {"resources": {}}}},
     "values.root_module.resources"),
    (with_child([{"mode": "managed", "type": "x"}]),
     "values.root_module.child_modules[1].resources[0].address"),
    (with_child([{"address": "module.b.x.z", "mode": "managed"}]),
     "values.root_module.child_modules[1].resources[0].type"),
    (with_child([{"address": "module.b.x.z", "mode": "managed", "type": "x", "depends_on": [1]}]),
     "values.root_module.child_modules[1].resources[0].depends_on[0]"),
    (with_child(["oops"]), "values.root_module.child_modules[1].resources[0]"),
])
def test_state_errors_name_the_field(document, field):
    with pytest.raises(InventoryError) as raised:
        import_terraform_state(document)
    assert raised.value.field == field
    assert raised.value.source == "terraform show -json"


def test_a_plan_is_refused_as_a_state():
    plan = json.loads((TERRAFORM / "module.plan.json").read_text())
    with pytest.raises(InventoryError, match="plan, not a state") as raised:
        import_terraform_state(plan)
    assert raised.value.field == "values"


def test_load_terraform_state_reads_a_file_and_names_it(tmp_path):
    assert load_terraform_state(TERRAFORM / "deposed.state.json")["resources"] == \
        [tf("terraform_data.server")]
    bad = tmp_path / "state.json"
    bad.write_text('{"format_version": "1.0",\n\n "values": }')
    with pytest.raises(InventoryError) as raised:
        load_terraform_state(bad)
    assert (raised.value.source, raised.value.line) == (str(bad), 3)
