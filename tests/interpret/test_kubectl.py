"""kubectl argv -> Operations (blastwall.core.interpret.kubectl)."""
from __future__ import annotations

import shlex

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastwall.core.interpret import kubectl as kmod
from blastwall.core.interpret.kubectl import interpret_kubectl
from blastwall.core.model import Operation, Verb
from blastwall.errors import ProposalError

CTX = "prod-us-east-1"


def run(cmd: str, files=None) -> list[Operation]:
    return interpret_kubectl(shlex.split(cmd), files)


def one(cmd: str, files=None) -> Operation:
    ops = run(cmd, files)
    assert len(ops) == 1, ops
    return ops[0]


def is_opaque(op: Operation) -> bool:
    return op.verb is Verb.EXEC and (op.target or "").startswith("<opaque:")


def targets(ops: list[Operation]) -> list[str | None]:
    return [op.target for op in ops]


def reader(mapping: dict[str, str]):
    return lambda path: mapping.get(path)


# --------------------------------------------------------------------------- entry point

def test_empty_argv_is_a_proposal_error():
    with pytest.raises(ProposalError):
        interpret_kubectl([])


def test_contract_example_delete_namespace():
    op = one("kubectl delete namespace payments --context prod-cn-north-1")
    assert op == Operation(Verb.DELETE, target="k8s:prod-cn-north-1:namespace:payments",
                           note="kubectl delete namespace payments")


def test_argv0_may_be_a_path():
    op = one(f"/usr/local/bin/kubectl delete ns payments --context {CTX}")
    assert (op.verb, op.target) == (Verb.DELETE, f"k8s:{CTX}:namespace:payments")


@pytest.mark.parametrize("argv0", ["oc", "kubectl2", "/bin/kubectl-foo", ""])
def test_other_programs_are_opaque(argv0):
    op = interpret_kubectl([argv0, "delete", "ns", "x", "--context", CTX])[0]
    assert is_opaque(op) and op.destructive


def test_non_string_words_do_not_crash():
    ops = interpret_kubectl(["kubectl", "delete", None, 3, "--context", CTX])
    assert len(ops) == 1 and is_opaque(ops[0]) and ops[0].destructive


def test_help_is_a_local_read():
    op = one("kubectl help delete")
    assert op.verb is Verb.READ and op.target is None and op.selector is None


@pytest.mark.parametrize("cmd", ["kubectl", "kubectl --help", "kubectl -h",
                                 f"kubectl --context {CTX} -n web"])
def test_no_subcommand_is_opaque(cmd):
    assert is_opaque(one(cmd))


# --------------------------------------------------------------------------- context

@pytest.mark.parametrize("ctx_flag", [f"--context {CTX}", f"--context={CTX}"])
def test_context_flag_forms(ctx_flag):
    op = one(f"kubectl {ctx_flag} delete deploy web -n web")
    assert op.target == f"k8s:{CTX}:deployment:web/web"


def test_context_may_come_anywhere():
    assert one(f"kubectl delete deploy --context {CTX} web -n web").target == \
        f"k8s:{CTX}:deployment:web/web"


def test_last_context_wins_like_kubectl():
    assert one("kubectl delete ns a --context one --context two").target == \
        "k8s:two:namespace:a"


def test_missing_context_makes_writes_opaque():
    op = one("kubectl delete ns payments")
    assert is_opaque(op) and op.destructive
    assert "no --context" in op.note


def test_missing_context_makes_reads_unresolvable_reads():
    op = one("kubectl get pods -n web")
    assert op.verb is Verb.READ
    assert op.target.startswith("<no --context: kubectl get pods -n web")
    assert " " in op.target and op.fallback is None
    assert "--context" in op.note


@pytest.mark.parametrize("extra", ["--server https://10.0.0.1", "-s https://x",
                                   "--cluster other", "--cluster=other"])
def test_server_or_cluster_override_makes_the_cluster_unknown(extra):
    op = one(f"kubectl delete ns payments --context {CTX} {extra}")
    assert is_opaque(op) and op.destructive and "overrides" in op.note
    read = one(f"kubectl get pods --context {CTX} {extra}")
    assert read.verb is Verb.READ and read.target.startswith("<--")


def test_kubeconfig_without_context_is_unknown():
    assert is_opaque(one("kubectl --kubeconfig /tmp/kc delete ns payments"))


def test_another_kubeconfig_makes_the_cluster_unknown():
    # a private kubeconfig can give the name of a staging context to the prod cluster
    op = one(f"kubectl --kubeconfig /tmp/kc --context {CTX} delete ns payments")
    assert is_opaque(op) and op.destructive and "--kubeconfig" in op.target


@pytest.mark.parametrize("ctx", ["", "a b", "prod\u200b", "tab\there"])
def test_unusable_context_values(ctx):
    op = interpret_kubectl(["kubectl", "delete", "ns", "x", "--context", ctx])[0]
    assert is_opaque(op) and op.destructive


def test_context_after_double_dash_does_not_count():
    op = one("kubectl exec web-0 -- kubectl --context prod delete ns x")
    assert is_opaque(op)


def test_namespace_flag_value_that_looks_like_a_flag_is_consumed_like_pflag():
    # pflag gives --namespace the next word even when it is "--context".
    op = one(f"kubectl delete ns x --namespace --context {CTX}")
    assert is_opaque(op)


# --------------------------------------------------------------------------- namespace

@pytest.mark.parametrize("ns_flag", ["-n web", "-nweb", "-n=web", "--namespace web",
                                     "--namespace=web"])
def test_namespace_flag_forms(ns_flag):
    op = one(f"kubectl delete pod web-0 {ns_flag} --context {CTX}")
    assert op.target == f"k8s:{CTX}:pod:web/web-0"


def test_namespace_defaults_to_default():
    assert one(f"kubectl delete pod web-0 --context {CTX}").target == \
        f"k8s:{CTX}:pod:default/web-0"


def test_namespace_is_ignored_for_cluster_scoped_kinds():
    assert one(f"kubectl delete node node-1 -n web --context {CTX}").target == \
        f"k8s:{CTX}:node:node-1"


@pytest.mark.parametrize("ns", ["Web", "a/b", "", "wéb", "-x"])
def test_unusable_namespace_is_opaque_for_writes(ns):
    op = interpret_kubectl(["kubectl", "delete", "pod", "p", "-n", ns, "--context", CTX])[0]
    assert is_opaque(op) and op.destructive


def test_unusable_namespace_is_a_cluster_read_for_reads():
    op = one(f"kubectl get pods -n Web --context {CTX}")
    assert (op.verb, op.target) == (Verb.READ, f"k8s:{CTX}:cluster:{CTX}")


# --------------------------------------------------------------------------- kinds

@pytest.mark.parametrize("word,kind", [
    ("ns", "namespace"), ("namespaces", "namespace"), ("po", "pod"), ("pods", "pod"),
    ("Pod", "pod"), ("deploy", "deployment"), ("deployments", "deployment"),
    ("deployments.apps", "deployment"), ("deployments.v1.apps", "deployment"),
    ("deploy.apps", "deployment"), ("sts", "statefulset"), ("ds", "daemonset"),
    ("rs", "replicaset"), ("svc", "service"), ("services", "service"), ("no", "node"),
    ("nodes", "node"), ("cm", "configmap"), ("secrets", "secret"),
    ("pvc", "persistentvolumeclaim"), ("pv", "persistentvolume"), ("ing", "ingress"),
    ("ingresses", "ingress"), ("ingresses.networking.k8s.io", "ingress"),
    ("sa", "serviceaccount"), ("jobs", "job"), ("cj", "cronjob"),
    ("hpa", "horizontalpodautoscaler"), ("crd", "customresourcedefinition"),
    ("crds", "customresourcedefinition"), ("netpol", "networkpolicy"),
    ("networkpolicies", "networkpolicy"), ("pdb", "poddisruptionbudget"),
    ("sc", "storageclass"), ("storageclasses", "storageclass"),
    ("clusterrole", "clusterrole"), ("clusterrolebindings", "clusterrolebinding"),
    ("roles", "role"), ("rolebinding", "rolebinding"), ("pc", "priorityclass"),
    ("ep", "endpoints"), ("endpoints", "endpoints"), ("quota", "resourcequota"),
    ("csr", "certificatesigningrequest"), ("apiservices", "apiservice"),
    ("mutatingwebhookconfigurations", "mutatingwebhookconfiguration"),
    ("validatingwebhookconfiguration", "validatingwebhookconfiguration"),
])
def test_kind_spellings(word, kind):
    op = one(f"kubectl delete {word} x -n web --context {CTX}")
    cluster = kind in kmod._CLUSTER_KINDS
    expected = f"k8s:{CTX}:{kind}:x" if cluster else f"k8s:{CTX}:{kind}:web/x"
    assert op.target == expected


@pytest.mark.parametrize("kind", ["namespace", "node", "persistentvolume", "storageclass",
                                  "clusterrole", "clusterrolebinding",
                                  "customresourcedefinition", "priorityclass",
                                  "mutatingwebhookconfiguration",
                                  "validatingwebhookconfiguration", "apiservice"])
def test_cluster_scoped_kinds_have_no_namespace(kind):
    assert one(f"kubectl delete {kind} x -n web --context {CTX}").target == \
        f"k8s:{CTX}:{kind}:x"


def test_type_slash_name_forms():
    ops = run(f"kubectl delete deploy/web svc/web ns/old -n web --context {CTX}")
    assert targets(ops) == [f"k8s:{CTX}:deployment:web/web", f"k8s:{CTX}:service:web/web",
                            f"k8s:{CTX}:namespace:old"]
    assert all(op.verb is Verb.DELETE for op in ops)


def test_type_then_several_names():
    ops = run(f"kubectl delete pods a b c -n web --context {CTX}")
    assert targets(ops) == [f"k8s:{CTX}:pod:web/{n}" for n in "abc"]


def test_comma_list_of_types_with_names():
    ops = run(f"kubectl delete deploy,svc web -n web --context {CTX}")
    assert targets(ops) == [f"k8s:{CTX}:deployment:web/web", f"k8s:{CTX}:service:web/web"]


def test_mixed_type_slash_name_and_type_name_is_opaque():
    op = one(f"kubectl delete deploy/web svc web --context {CTX}")
    assert is_opaque(op) and op.destructive


def test_custom_resource_kind_is_singularised():
    assert one(f"kubectl delete certificates.cert-manager.io tls -n web --context {CTX}"
               ).target == f"k8s:{CTX}:certificate:web/tls"
    assert one(f"kubectl delete rollouts web -n web --context {CTX}").target == \
        f"k8s:{CTX}:rollout:web/web"


@pytest.mark.parametrize("word", [
    "nodes.example.com",          # a custom type shadowing a built-in name
    "deployments.evil.io",
    "foos.apps",                  # unknown type in a built-in group
    "n\u212Ades",                 # Kelvin sign lower-cases to "k"
    "ｐｏｄｓ",                    # full-width letters
    "pods..",
    "",
    "po_ds",
])
def test_doubtful_kinds_are_opaque(word):
    op = interpret_kubectl(["kubectl", "delete", word, "x", "--context", CTX])[0]
    assert is_opaque(op) and op.destructive


@pytest.mark.parametrize("name", ["a/b", "", ".", "..", "x y", "wéb", "-", "a,b"])
def test_doubtful_names_are_opaque(name):
    op = interpret_kubectl(["kubectl", "delete", "pod", name, "--context", CTX])[0]
    assert is_opaque(op)


def test_names_with_colons_are_kept_for_rbac():
    assert one(f"kubectl delete clusterrole system:aggregate-to-edit --context {CTX}").target \
        == f"k8s:{CTX}:clusterrole:system:aggregate-to-edit"


def test_all_category_expands():
    ops = run(f"kubectl delete all --all -n web --context {CTX}")
    prefixes = {op.selector["alias_prefix"] for op in ops}
    assert f"k8s:{CTX}:deployment:web/" in prefixes
    assert f"k8s:{CTX}:statefulset:web/" in prefixes
    assert f"k8s:{CTX}:pod:web/" in prefixes
    assert all(op.verb is Verb.DELETE for op in ops)


# --------------------------------------------------------------------------- reads

@pytest.mark.parametrize("verb", ["get", "describe"])
def test_named_read_has_namespace_fallback(verb):
    op = one(f"kubectl {verb} deploy web -n web --context {CTX} -o yaml")
    assert op == Operation(Verb.READ, target=f"k8s:{CTX}:deployment:web/web",
                           fallback=f"k8s:{CTX}:namespace:web",
                           note=f"kubectl {verb} deployment web/web")


def test_cluster_scoped_named_read_has_no_fallback():
    op = one(f"kubectl get node node-1 --context {CTX}")
    assert (op.verb, op.target, op.fallback) == (Verb.READ, f"k8s:{CTX}:node:node-1", None)


def test_listing_read_targets_the_namespace():
    op = one(f"kubectl get pods -n web --context {CTX}")
    assert (op.verb, op.target, op.fallback) == (Verb.READ, f"k8s:{CTX}:namespace:web", None)


def test_listing_read_with_selector_targets_the_namespace():
    op = one(f"kubectl get pods -l app=web -n web --context {CTX} -w")
    assert (op.verb, op.target) == (Verb.READ, f"k8s:{CTX}:namespace:web")


@pytest.mark.parametrize("cmd", ["get pods -A", "get pods --all-namespaces", "get nodes",
                                 "get ns", "get pv", "api-resources", "api-versions",
                                 "version", "cluster-info", "cluster-info dump",
                                 "explain pods.spec", "auth can-i delete pods",
                                 "auth whoami", "get --raw /metrics", "events -A"])
def test_cluster_wide_reads_target_the_cluster_marker(cmd):
    op = one(f"kubectl {cmd} --context {CTX}")
    assert (op.verb, op.target) == (Verb.READ, f"k8s:{CTX}:cluster:{CTX}")


def test_mixed_listing_reads_namespace_and_cluster():
    ops = run(f"kubectl get deploy,svc,nodes -n web --context {CTX}")
    assert targets(ops) == [f"k8s:{CTX}:namespace:web", f"k8s:{CTX}:cluster:{CTX}"]
    assert "deployments,services" in ops[0].note


def test_get_all_is_one_namespace_read():
    assert targets(run(f"kubectl get all -n web --context {CTX}")) == \
        [f"k8s:{CTX}:namespace:web"]


def test_logs_reads_the_pod():
    op = one(f"kubectl logs -f web-0 -c app --tail 20 -n web --context {CTX}")
    assert (op.verb, op.target, op.fallback) == (
        Verb.READ, f"k8s:{CTX}:pod:web/web-0", f"k8s:{CTX}:namespace:web")


def test_logs_short_flags_mean_follow_and_previous():
    # -f is --follow (no value) and -p --previous for logs: "web-0" stays the pod.
    op = one(f"kubectl logs -fp web-0 -n web --context {CTX}")
    assert op.target == f"k8s:{CTX}:pod:web/web-0"


def test_logs_of_a_deployment_and_by_selector():
    assert one(f"kubectl logs deploy/web -n web --context {CTX}").target == \
        f"k8s:{CTX}:deployment:web/web"
    assert one(f"kubectl logs -l app=web -n web --context {CTX}").target == \
        f"k8s:{CTX}:namespace:web"


def test_top():
    assert one(f"kubectl top pod web-0 -n web --context {CTX}").target == \
        f"k8s:{CTX}:pod:web/web-0"
    assert one(f"kubectl top pods -n web --containers --context {CTX}").target == \
        f"k8s:{CTX}:namespace:web"
    assert one(f"kubectl top node --context {CTX}").target == f"k8s:{CTX}:cluster:{CTX}"


def test_events():
    assert one(f"kubectl events -n web --context {CTX}").target == f"k8s:{CTX}:namespace:web"
    assert one(f"kubectl events --for pod/web-0 -n web --context {CTX}").target == \
        f"k8s:{CTX}:pod:web/web-0"


def test_wait_and_rollout_status_and_history_are_reads():
    for cmd in ("wait --for=condition=Ready pod/web-0", "rollout status deploy/web",
                "rollout history deploy web --revision 3"):
        op = one(f"kubectl {cmd} -n web --context {CTX}")
        assert op.verb is Verb.READ and op.target.startswith(f"k8s:{CTX}:")


def test_doubtful_read_falls_back_to_a_cluster_read():
    op = one(f"kubectl get deploy/web svc web --context {CTX}")
    assert (op.verb, op.target) == (Verb.READ, f"k8s:{CTX}:cluster:{CTX}")


@pytest.mark.parametrize("cmd", ["config view", "config view --minify -o yaml",
                                 "config --kubeconfig /tmp/kc view", "config get-clusters",
                                 "config get-users", "config get-contexts",
                                 "config current-context", "config", "kuberc view",
                                 "kustomize ./overlay", "completion bash",
                                 "version --client", "plugin list", "options"])
def test_local_commands_touch_nothing(cmd):
    op = one(f"kubectl {cmd}")
    assert (op.verb, op.target, op.selector) == (Verb.READ, None, None)
    assert "local" in op.note


# --------------------------------------------------------------------------- kubeconfig changes

KUBECONFIG_CHANGES = [
    "config set-context staging-us-east-1 --cluster prod-us-east-1",
    "config set-context --current --namespace=payments",
    "config set-cluster staging --server https://prod.example:6443",
    "config set-credentials staging-admin --token=t0ken", "config use-context prod-us-east-1",
    "config use prod-us-east-1", "config delete-context staging", "config delete-cluster staging",
    "config delete-user staging-admin", "config rename-context prod-us-east-1 staging",
    "config set contexts.staging.cluster prod-us-east-1", "config unset contexts.staging.namespace",
]


@pytest.mark.parametrize("cmd", KUBECONFIG_CHANGES)
def test_rewriting_the_kubeconfig_is_opaque(cmd):
    # `staging` pointed at the prod cluster: a later `--context staging delete` deletes in prod
    op = one(f"kubectl {cmd}")
    assert is_opaque(op) and not op.destructive
    assert "changes kubeconfig: later commands would reach another cluster" in op.note


@pytest.mark.parametrize("cmd", [
    "--kubeconfig /tmp/kc config use-context prod", "config --kubeconfig /tmp/kc use-context prod",
    "config --kubeconfig=/tmp/kc -v 9 set-cluster c --server https://x", "-- config use-context prod",
])
def test_flags_before_the_config_subcommand_do_not_hide_it(cmd):
    assert is_opaque(one(f"kubectl {cmd}"))


def test_a_flag_value_is_not_taken_for_the_subcommand():
    # --kubeconfig takes `use-context` as its file name; the subcommand is `view`
    op = one("kubectl config --kubeconfig use-context view")
    assert op.verb is Verb.READ and "local" in op.note


@pytest.mark.parametrize("cmd", ["config frob", "config --frob x view", "kuberc set --section=defaults"])
def test_unknown_config_subcommands_and_kuberc_changes_are_opaque(cmd):
    assert is_opaque(one(f"kubectl {cmd}"))


def test_diff_reads_the_manifest_objects():
    files = reader({"d.yaml": "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: web}\n"})
    op = one(f"kubectl diff -f d.yaml -n web --context {CTX}", files)
    assert (op.verb, op.target) == (Verb.READ, f"k8s:{CTX}:deployment:web/web")


def test_diff_of_an_unreadable_manifest_is_still_a_read():
    op = one(f"kubectl diff -f - --context {CTX}")
    assert (op.verb, op.target) == (Verb.READ, f"k8s:{CTX}:cluster:{CTX}")


# --------------------------------------------------------------------------- delete

def test_delete_by_selector():
    op = one(f"kubectl delete pods -l app=web,tier=fe -n web --context {CTX}")
    assert op.verb is Verb.DELETE and op.target is None
    assert op.selector == {"alias_prefix": f"k8s:{CTX}:pod:web/",
                           "tags": {"app": "web", "tier": "fe"}}


@pytest.mark.parametrize("sel", ["--selector app=web", "--selector=app=web", "-lapp=web",
                                 "-l app==web"])
def test_selector_flag_forms(sel):
    op = one(f"kubectl delete deploy {sel} -n web --context {CTX}")
    assert op.selector == {"alias_prefix": f"k8s:{CTX}:deployment:web/",
                           "tags": {"app": "web"}}


def test_delete_all_in_namespace():
    op = one(f"kubectl delete deploy --all -n web --context {CTX}")
    assert op.selector == {"alias_prefix": f"k8s:{CTX}:deployment:web/"}


def test_delete_all_namespaces_uses_kind_prefix():
    op = one(f"kubectl delete pods --all -A --context {CTX}")
    assert op.selector == {"alias_prefix": f"k8s:{CTX}:pod:"}


def test_delete_all_namespaces_themselves():
    op = one(f"kubectl delete ns --all --context {CTX}")
    assert (op.verb, op.selector) == (Verb.DELETE, {"alias_prefix": f"k8s:{CTX}:namespace:"})


def test_field_selector_selects_a_superset():
    op = one(f"kubectl delete pods --field-selector status.phase=Failed -n web --context {CTX}")
    assert op.selector == {"alias_prefix": f"k8s:{CTX}:pod:web/"}


@pytest.mark.parametrize("sel", ["app!=web", "app in (a,b)", "!app", "app", "", "app=a,app=b",
                                 "app = web", "app=web,", "notin(x)", "app=we b"])
def test_non_equality_selectors_are_destructive_opaque(sel):
    op = interpret_kubectl(["kubectl", "delete", "pods", "-l", sel, "--context", CTX])[0]
    assert is_opaque(op) and op.destructive


def test_selecting_a_guessed_kind_is_opaque():
    op = one(f"kubectl delete widgets -l app=x --context {CTX}")
    assert is_opaque(op) and op.destructive


@pytest.mark.parametrize("cmd", ["delete pod web-0 -l app=web", "delete pod web-0 --all",
                                 "delete pods", "delete", "delete --all",
                                 "delete pod web-0 -A", "delete --raw /api/v1/namespaces/x",
                                 "delete -k ./overlay", "delete -f -",
                                 "delete -f https://example.com/x.yaml"])
def test_doubtful_deletes_are_destructive_opaque(cmd):
    ops = run(f"kubectl {cmd} --context {CTX}")
    assert ops and all(is_opaque(op) and op.destructive for op in ops)


def test_delete_force_and_grace_period_are_still_deletes():
    op = one(f"kubectl delete pod web-0 --grace-period 0 --force --now -n web --context {CTX}")
    assert (op.verb, op.target) == (Verb.DELETE, f"k8s:{CTX}:pod:web/web-0")


def test_bare_cascade_does_not_take_the_next_word():
    ops = run(f"kubectl delete deploy --cascade web -n web --context {CTX}")
    assert targets(ops) == [f"k8s:{CTX}:deployment:web/web"]
    ops = run(f"kubectl delete deploy web --cascade=orphan -n web --context {CTX}")
    assert targets(ops) == [f"k8s:{CTX}:deployment:web/web"]


def test_duplicate_objects_are_reported_once():
    assert targets(run(f"kubectl delete pod a a -n web --context {CTX}")) == \
        [f"k8s:{CTX}:pod:web/a"]
    assert targets(run(f"kubectl delete pod/a po/a pods/a -n web --context {CTX}")) == \
        [f"k8s:{CTX}:pod:web/a"]


# --------------------------------------------------------------------------- create

@pytest.mark.parametrize("cmd,target", [
    ("create ns foo", "k8s:C:namespace:foo"),
    ("create namespace foo -n web", "k8s:C:namespace:foo"),
    ("create deployment web --image nginx -r 3 -n web", "k8s:C:deployment:web/web"),
    ("create deploy web --image=nginx --port 80 -n web -- /bin/app --x",
     "k8s:C:deployment:web/web"),
    ("create service clusterip web --tcp 80:8080 -n web", "k8s:C:service:web/web"),
    ("create svc nodeport web --tcp 80 -n web", "k8s:C:service:web/web"),
    ("create secret generic creds --from-literal=a=b -n web", "k8s:C:secret:web/creds"),
    ("create secret tls t --cert c --key k", "k8s:C:secret:default/t"),
    ("create configmap cfg --from-file x.conf", "k8s:C:configmap:default/cfg"),
    ("create cm cfg", "k8s:C:configmap:default/cfg"),
    ("create job once --from=cronjob/nightly -n batch", "k8s:C:job:batch/once"),
    ("create cronjob nightly --image x --schedule '*/5 * * * *'",
     "k8s:C:cronjob:default/nightly"),
    ("create clusterrole reader --verb=get --resource=pods", "k8s:C:clusterrole:reader"),
    ("create rolebinding rb --clusterrole=view --user=alice -n web",
     "k8s:C:rolebinding:web/rb"),
    ("create sa bot", "k8s:C:serviceaccount:default/bot"),
    ("create quota q --hard=pods=3", "k8s:C:resourcequota:default/q"),
    ("create pc high --value 1000", "k8s:C:priorityclass:high"),
    ("create pdb p --selector app=web --min-available 1", "k8s:C:poddisruptionbudget:default/p"),
    ("create ingress ing --rule foo.com/=svc:80", "k8s:C:ingress:default/ing"),
])
def test_create_subcommands(cmd, target):
    op = one(f"kubectl --context C {cmd}")
    assert (op.verb, op.target) == (Verb.CREATE, target)


@pytest.mark.parametrize("cmd", ["create token bot", "create pods x", "create deployment",
                                 "create deployment a b", "create secret x",
                                 "create service web", "create --raw /api -f x.yaml",
                                 "create -f a.yaml deployment web"])
def test_doubtful_creates_are_opaque(cmd):
    assert all(is_opaque(op) for op in run(f"kubectl {cmd} --context C",
                                           reader({"a.yaml": "kind: Namespace"})))


def test_create_from_manifest():
    files = reader({"ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"})
    op = one(f"kubectl create -f ns.yaml --context {CTX}", files)
    assert (op.verb, op.target) == (Verb.CREATE, f"k8s:{CTX}:namespace:shop")


# --------------------------------------------------------------------------- manifests

MULTI = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
  namespace: shop
---
apiVersion: v1
kind: Service
metadata:
  name: cart
---
# an empty document
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: cfg, namespace: shop}
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata: {name: reader}
"""


def test_apply_multi_document_manifest():
    ops = run(f"kubectl apply -f all.yaml -n web --context {CTX}", reader({"all.yaml": MULTI}))
    assert targets(ops) == [
        f"k8s:{CTX}:namespace:shop",
        f"k8s:{CTX}:deployment:shop/cart",      # metadata.namespace wins
        f"k8s:{CTX}:service:web/cart",          # else -n
        f"k8s:{CTX}:configmap:shop/cfg",        # List items are expanded
        f"k8s:{CTX}:clusterrole:reader",
    ]
    assert all(op.verb is Verb.UPDATE and op.upsert for op in ops)


def test_manifest_namespace_defaults_to_default():
    ops = run(f"kubectl apply -f all.yaml --context {CTX}", reader({"all.yaml": MULTI}))
    assert f"k8s:{CTX}:service:default/cart" in targets(ops)


def test_json_manifest():
    text = '{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"}}'
    op = one(f"kubectl apply -f db.json -n data --context {CTX}", reader({"db.json": text}))
    assert op.target == f"k8s:{CTX}:statefulset:data/db"


def test_several_manifests_repeated_and_comma_separated():
    files = reader({
        "a.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
        "b.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
        "c.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: c}\n",
    })
    ops = run(f"kubectl delete -f a.yaml,b.yaml --filename c.yaml --context {CTX}", files)
    assert targets(ops) == [f"k8s:{CTX}:namespace:{n}" for n in "abc"]
    assert all(op.verb is Verb.DELETE for op in ops)


def test_custom_resource_manifest():
    text = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\n"
    op = one(f"kubectl apply -f r.yaml -n web --context {CTX}", reader({"r.yaml": text}))
    assert op.target == f"k8s:{CTX}:rollout:web/web"


@pytest.mark.parametrize("path,files", [
    ("-", {}),
    ("https://example.com/x.yaml", {"https://example.com/x.yaml": MULTI}),
    ("missing.yaml", {}),
    ("dir/", {}),
    ("bad.yaml", {"bad.yaml": "kind: [unclosed"}),
    ("date.yaml", {"date.yaml": "a: 2001-02-30\n"}),
    ("empty.yaml", {"empty.yaml": ""}),
    ("scalar.yaml", {"scalar.yaml": "just text"}),
    ("noname.yaml", {"noname.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {}\n"}),
    ("gen.yaml", {"gen.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {generateName: x-}\n"}),
    ("nokind.yaml", {"nokind.yaml": "apiVersion: v1\nmetadata: {name: x}\n"}),
    ("noapi.yaml", {"noapi.yaml": "kind: Namespace\nmetadata: {name: x}\n"}),
    ("shadow.yaml", {"shadow.yaml": "apiVersion: evil.io/v1\nkind: Namespace\n"
                                    "metadata: {name: x}\n"}),
    ("badns.yaml", {"badns.yaml": "apiVersion: v1\nkind: Pod\n"
                                  "metadata: {name: x, namespace: Bad/NS}\n"}),
    ("list.yaml", {"list.yaml": "apiVersion: v1\nkind: List\n"}),
    ("unicode.yaml", {"unicode.yaml": "apiVersion: v1\nkind: Namespac\u0435\n"
                                      "metadata: {name: x}\n"}),
])
def test_unusable_manifests_are_opaque_and_destructive_for_delete(path, files):
    ops = interpret_kubectl(["kubectl", "delete", "-f", path, "--context", CTX], reader(files))
    assert ops and all(is_opaque(op) and op.destructive for op in ops)
    ops = interpret_kubectl(["kubectl", "apply", "-f", path, "--context", CTX], reader(files))
    assert ops and all(is_opaque(op) and not op.destructive for op in ops)


def test_no_file_reader_means_unreadable():
    assert is_opaque(one(f"kubectl apply -f x.yaml --context {CTX}"))


def test_a_failing_reader_means_unreadable():
    def boom(path):
        raise OSError("disk on fire")
    assert is_opaque(one(f"kubectl apply -f x.yaml --context {CTX}", boom))


def test_a_reader_returning_non_text_means_unreadable():
    assert is_opaque(one(f"kubectl apply -f x.yaml --context {CTX}", lambda p: b"kind: Pod"))


def test_good_and_bad_objects_in_one_manifest():
    text = ("apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\n"
            "apiVersion: v1\nkind: Pod\nmetadata: {}\n")
    ops = run(f"kubectl delete -f m.yaml --context {CTX}", reader({"m.yaml": text}))
    assert ops[0] == Operation(Verb.DELETE, target=f"k8s:{CTX}:namespace:ok",
                               note="kubectl delete namespace ok")
    assert is_opaque(ops[1]) and ops[1].destructive and len(ops) == 2


def test_kustomize_directory_is_opaque():
    assert is_opaque(one(f"kubectl apply -k overlays/prod --context {CTX}"))


# --------------------------------------------------------------------------- manifests as kubectl reads them

PAYMENTS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: payments\n"
NODE = "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-0\n"


def delete_ops(text: str, path: str = "m.yaml") -> list[Operation]:
    return interpret_kubectl(["kubectl", "delete", "-f", path, "--context", CTX],
                             reader({path: text}))


def opaque_destructive(ops: list[Operation]) -> bool:
    return bool(ops) and all(is_opaque(op) and op.destructive for op in ops)


def test_dash_line_that_yaml_reads_as_a_key_is_opaque():
    # /tmp/probe2/yamlsplit: kubectl (1.32) splits at `---#: x` and deletes namespace/payments
    # AND node/node-0; PyYAML read one mapping whose later keys overwrote the namespace.
    ops = delete_ops(PAYMENTS + "---#: x\n" + NODE)
    assert opaque_destructive(ops), ops
    assert "kubectl and YAML split manifest m.yaml into different documents" in ops[0].note


@pytest.mark.parametrize("line", ["---#", "---#: x", "---#x: [", "---\t# comment"])
def test_separator_only_kubectl_sees_is_opaque(line):
    ops = delete_ops(PAYMENTS + line + "\n" + NODE)
    assert opaque_destructive(ops), ops
    assert "different documents" in ops[0].note


@pytest.mark.parametrize("line", ["---foo", "--- foo", "----", "---x: y", "--- !!map", "--- |",
                                  "--- {a: 1}"])
def test_line_starting_with_three_dashes_that_is_no_separator_is_opaque(line):
    # kubectl >= 1.2x refuses the file ("invalid Yaml document separator"), older ones split
    # there: either way not what PyYAML reads.
    ops = delete_ops(PAYMENTS + line + "\n" + NODE)
    assert opaque_destructive(ops), ops
    assert "no plain document separator" in ops[0].note


@pytest.mark.parametrize("line", ["---", "--- ", "--- # a comment", "---   ", "---  #: y"])
def test_plain_separators_split_like_kubectl(line):
    ops = delete_ops(PAYMENTS + line + "\n" + NODE)
    assert targets(ops) == [f"k8s:{CTX}:namespace:payments", f"k8s:{CTX}:node:node-0"]
    assert all(op.verb is Verb.DELETE for op in ops)


def test_leading_separator_comments_and_empty_documents():
    text = "---\n# Source: chart/ns.yaml\n" + PAYMENTS + "---\n---\n# nothing\n---\n" + NODE + "---\n"
    assert targets(delete_ops(text)) == [f"k8s:{CTX}:namespace:payments", f"k8s:{CTX}:node:node-0"]


def test_crlf_and_a_leading_byte_order_mark_are_read_like_kubectl():
    crlf = (PAYMENTS + "---\n" + NODE).replace("\n", "\r\n")
    assert len(delete_ops(crlf)) == 2 and not any(is_opaque(op) for op in delete_ops(crlf))
    assert targets(delete_ops("\ufeff" + PAYMENTS + "---\n" + NODE))[0] == \
        f"k8s:{CTX}:namespace:payments"


@pytest.mark.parametrize("brk", ["\r", "\x85", "\u2028", "\u2029"])
def test_line_breaks_kubectl_does_not_split_on_are_opaque(brk):
    # kubectl splits documents at "\n" only; YAML also breaks lines at these.
    ops = delete_ops(PAYMENTS + brk + "---" + brk + NODE)
    assert opaque_destructive(ops), ops
    assert "line breaks" in ops[0].note


def test_dot_dot_dot_document_end_is_opaque():
    # kubectl reads the first document of the part and drops the rest; PyYAML refuses it.
    assert opaque_destructive(delete_ops(PAYMENTS + "...\n" + NODE))


def test_duplicate_keys_are_opaque():
    # /tmp/probe2/yamlsplit/dup.yaml: which `metadata` counts is up to the reader.
    ops = delete_ops(PAYMENTS + "metadata:\n  name: web\n")
    assert opaque_destructive(ops), ops
    assert "has the key 'metadata' twice" in ops[0].note


@pytest.mark.parametrize("text", [
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: payments, name: web}\n",
    PAYMENTS + "kind: Node\n",
    "apiVersion: v1\nkind: Namespace\nmetadata: {<<: {name: a}, <<: {name: b}}\n",
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: payments}\n'metadata': {name: web}\n",
    '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}, '
    '"metadata": {"name": "b"}}',
    PAYMENTS + "---\n" + NODE + "metadata: {name: node-1}\n",
])
def test_duplicate_keys_anywhere_are_opaque(text):
    assert opaque_destructive(delete_ops(text))


def test_merge_keys_are_no_duplicates():
    text = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: &m {name: a, namespace: web}
- apiVersion: v1
  kind: Pod
  metadata: {<<: *m, name: b}
- apiVersion: v1
  kind: Pod
  metadata: {<<: &n {<<: *m, name: c}, name: d}
- apiVersion: v1
  kind: Pod
  metadata: *n
"""
    assert targets(delete_ops(text)) == [f"k8s:{CTX}:pod:web/{n}" for n in "abdc"]


def test_json_stream_is_opaque():
    # /tmp/probe2/yamlsplit/two.json: kubectl reads both objects, PyYAML refuses the stream.
    text = ('{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"payments"}}\n'
            '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"web"}}\n')
    assert opaque_destructive(delete_ops(text, "two.json"))


def test_any_object_with_items_is_a_list_for_kubectl():
    # kubectl (1.32) acts on the items of any object that has `items`, whatever its kind:
    # this deletes namespace/payments, not namespace/decoy.
    text = ("apiVersion: v1\nkind: Namespace\nmetadata: {name: decoy}\nitems:\n"
            "- apiVersion: v1\n  kind: Namespace\n  metadata: {name: payments}\n")
    assert targets(delete_ops(text)) == [f"k8s:{CTX}:namespace:payments"]


@pytest.mark.parametrize("items", ["null", "foo", "{a: 1}", "7"])
def test_items_that_are_not_a_list_are_opaque(items):
    ops = delete_ops(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: decoy}}\nitems: {items}\n")
    assert opaque_destructive(ops), ops


def test_capitalised_items_is_no_list():
    # kubectl's list detection is case-sensitive: `Items` is just a field.
    text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\nItems: [1]\n"
    assert targets(delete_ops(text)) == [f"k8s:{CTX}:namespace:a"]


# --------------------------------------------------------------------------- -f is a CSV record

@pytest.mark.parametrize("value", ['"m.yaml"', '"a.yaml,b.yaml"', 'a.yaml,"b.yaml"', 'm".yaml',
                                   '"m.yaml",', "a.yaml\nb.yaml", "m.yaml\r"])
def test_filename_with_quotes_or_line_breaks_is_opaque(value):
    # /tmp/probe2/csv: pflag reads -f as CSV, so kubectl deletes m.yaml for -f '"m.yaml"'
    # while the gateway read the file `"m.yaml"` (another object).
    files = reader({'"m.yaml"': NODE, "m.yaml": PAYMENTS, "a.yaml": NODE, "b.yaml": NODE})
    for cmd in ("delete", "apply", "get", "replace"):
        ops = interpret_kubectl(["kubectl", cmd, "-f", value, "--context", CTX], files)
        assert ops and all(is_opaque(op) for op in ops), (cmd, ops)
        assert "kubectl reads it as CSV" in ops[0].note
        if cmd == "delete":
            assert all(op.destructive for op in ops)


def test_filename_flag_forms_with_quotes_are_opaque():
    files = reader({'"m.yaml"': NODE, "m.yaml": PAYMENTS})
    for argv in (["-f", '"m.yaml"'], ['-f"m.yaml"'], ['--filename="m.yaml"'], ["-f=\"m.yaml\""],
                 ["-f", "x.yaml", "--filename", '"m.yaml"']):
        ops = interpret_kubectl(["kubectl", "delete", *argv, "--context", CTX], files)
        assert opaque_destructive(ops), (argv, ops)


@pytest.mark.parametrize("flag", ["--from-file=x,.netrc", "--from-file=.env,x",
                                  "--from-file=k=.netrc", "--from-file=k=x,j=.netrc",
                                  "--from-env-file=x,.env", '--from-file=".netrc"',
                                  '--from-env-file=".env"'])
def test_file_lists_are_checked_item_by_item_for_credentials(flag):
    # `kubectl create configmap c --from-file=x,.netrc --dry-run=client -o yaml` prints .netrc
    for sub in ("configmap c", "secret generic c"):
        op = one(f"kubectl create {sub} {shlex.quote(flag)} --dry-run=client -o yaml --context {CTX}")
        assert is_opaque(op), (sub, flag)
        assert "credentials" in op.note or "CSV" in op.note


# --------------------------------------------------------------------------- local commands that do more

KUSTOMIZE_RISKS = [
    "--enable-helm", "--enable-helm=true", "--helm-command /tmp/evil.sh",
    "--helm-command=/tmp/evil.sh", "--enable-alpha-plugins", "--enable-exec", "--enable-star",
    "--load-restrictor LoadRestrictionsNone", "--load-restrictor=LoadRestrictionsNone",
    "-o /root/.kube/config", "-o/root/.kube/config", "--output=/root/.bashrc",
    "--mount type=bind,src=/,dst=/x", "--network", "--network-name host", "-e SECRET",
    "--env=A=b", "--as-current-user", "--helm-api-versions v1", "--helm-kube-version 1.30",
    "--helm-debug", "--filename x.yaml",
]


@pytest.mark.parametrize("risk", KUSTOMIZE_RISKS)
def test_kustomize_flags_that_run_programs_write_files_or_loosen_are_opaque(risk):
    # /tmp/probe2/kz: `kubectl kustomize . --enable-helm --helm-command evil.sh` runs evil.sh
    for cmd in (f"kubectl kustomize . {risk}", f"kubectl kustomize {risk} .",
                f"kubectl --context {CTX} kustomize overlays/prod {risk} -v 2"):
        op = one(cmd)
        assert is_opaque(op), cmd
        assert "kustomize --" in op.note
    assert is_opaque(one("kubectl kustomize . --frob"))


@pytest.mark.parametrize("tree", ["~", "/root", "/home/bob", "$HOME"])
def test_kustomize_over_a_tree_that_holds_credentials_is_opaque(tree):
    # a kustomization there may say secretGenerator: files: [.aws/credentials] and print it
    op = one(f"kubectl kustomize {tree}")
    assert is_opaque(op) and "holds credentials" in op.note


def test_manifests_compare_each_shared_yaml_node_once():
    """YAML aliases share nodes; comparing kubectl's split with the whole parse must not walk a
    shared node once per path to it (40 levels of two aliases: 2**40 paths)."""
    top = bottom = ["x"]
    for _ in range(40):
        bottom = [bottom, bottom]
    other = ["x"]
    for _ in range(40):
        other = [other, other]
    assert kmod._same({"a": bottom}, {"a": other})
    assert not kmod._same({"a": bottom}, {"a": [bottom, other]})
    assert not kmod._same({"a": 1}, {"a": True}) and not kmod._same({"a": 1}, {"b": 1})
    assert not kmod._same([top], [["y"]]) and not kmod._same([1, 2], [1])


def test_kustomize_flags_before_the_command_count_too():
    # cobra parses the whole command line with the kustomize command's flags
    assert is_opaque(one("kubectl -o /tmp/out.yaml kustomize ."))


@pytest.mark.parametrize("note,cmd", [
    ("may run programs", "kustomize . --enable-helm --helm-command /tmp/evil.sh"),
    ("writes a file", "kustomize dir -o /root/.kube/config"),
    ("outside the kustomization", "kustomize dir --load-restrictor=LoadRestrictionsNone"),
])
def test_kustomize_notes_say_why(note, cmd):
    assert note in one(f"kubectl {cmd}").note


@pytest.mark.parametrize("cmd", ["kustomize .", "kustomize overlays/prod --context x -v 2",
                                 "kustomize . --load-restrictor=LoadRestrictionsRootOnly",
                                 "kustomize . --enable-managedby-label", "kustomize . --reorder none",
                                 "kustomize https://github.com/org/repo//overlays?ref=v1",
                                 "kustomize -- . --enable-helm", "kustomize --help"])
def test_plain_kustomize_is_a_local_read(cmd):
    # (`kustomize -- . --enable-helm`: after `--` pflag reads no flags; kubectl refuses it)
    op = one(f"kubectl {cmd}")
    assert (op.verb, op.target) == (Verb.READ, None) and "local" in op.note


def test_kustomize_of_a_credential_directory_is_opaque():
    op = one("kubectl kustomize /root/.kube")
    assert is_opaque(op) and "credentials" in op.note


@pytest.mark.parametrize("cmd", [
    "version --client --profile=cpu", "version --client --profile cpu",
    "completion bash --profile=heap --profile-output=/root/.bashrc",
    "help --profile=goroutine", "config view --profile=block", "kustomize . --profile=mutex",
    f"get pods --context {CTX} --profile=cpu --profile-output=/root/.bashrc",
    f"--profile=cpu delete ns web --context {CTX}",
])
def test_profiling_writes_a_file_and_is_opaque(cmd):
    op = one(f"kubectl {cmd}")
    assert is_opaque(op) and "--profile writes a profile file" in op.note


def test_profile_none_and_profile_output_alone_write_nothing():
    assert "local" in one("kubectl version --client --profile=none").note
    op = one(f"kubectl get pods --context {CTX} --profile-output=/root/.bashrc")
    assert op.verb is Verb.READ and not is_opaque(op)


def test_debug_profile_is_another_flag():
    op = one(f"kubectl debug web-0 --profile=general --context {CTX} -n web")
    assert op.verb is Verb.EXEC and "profile file" not in (op.note or "")


@pytest.mark.parametrize("cmd", [f"get secrets --context {CTX} --kuberc /tmp/k.yaml",
                                 f"delete pod x --context {CTX} --kuberc=/tmp/k.yaml",
                                 "config view --kuberc /tmp/k.yaml"])
def test_another_kuberc_is_opaque(cmd):
    # a kuberc sets flag defaults: `-o yaml` for get, `--raw` for config view, ...
    op = one(f"kubectl {cmd}")
    assert is_opaque(op) and "--kuberc" in op.note


def test_cluster_info_dump_into_a_directory_is_opaque():
    op = one(f"kubectl cluster-info dump --output-directory=/root/.ssh --context {CTX}")
    assert is_opaque(op) and "writes files" in op.note
    op = one(f"kubectl cluster-info dump --output-directory=- --context {CTX}")
    assert op.verb is Verb.READ


# --------------------------------------------------------------------------- apply / replace

def test_apply_is_an_upsert_update():
    files = reader({"d.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"})
    op = one(f"kubectl apply -f d.yaml -n web --server-side --force-conflicts --context {CTX}",
             files)
    assert op == Operation(Verb.UPDATE, target=f"k8s:{CTX}:deployment:web/web", upsert=True,
                           note="kubectl apply deployment web/web")


def test_apply_prune_is_destructive_opaque():
    files = reader({"d.yaml": MULTI})
    op = one(f"kubectl apply -f d.yaml --prune -l app=web --context {CTX}", files)
    assert is_opaque(op) and op.destructive


def test_apply_force_is_a_replace():
    files = reader({"d.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"})
    op = one(f"kubectl apply --force -f d.yaml --context {CTX}", files)
    assert (op.verb, op.target) == (Verb.REPLACE, f"k8s:{CTX}:service:default/web")


def test_apply_last_applied_subcommands():
    assert one(f"kubectl apply view-last-applied deploy/web --context {CTX}").verb is Verb.READ
    op = one(f"kubectl apply edit-last-applied deploy/web -n web --context {CTX}")
    assert (op.verb, op.target) == (Verb.UPDATE, f"k8s:{CTX}:deployment:web/web")


def test_apply_without_manifest_is_opaque():
    assert is_opaque(one(f"kubectl apply deploy/web --context {CTX}"))


def test_replace_and_replace_force():
    files = reader({"d.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"})
    op = one(f"kubectl replace -f d.yaml -n web --context {CTX}", files)
    assert (op.verb, op.target) == (Verb.UPDATE, f"k8s:{CTX}:deployment:web/web")
    op = one(f"kubectl replace --force -f d.yaml -n web --context {CTX}", files)
    assert (op.verb, op.target) == (Verb.REPLACE, f"k8s:{CTX}:deployment:web/web")
    op = one(f"kubectl replace --force -f - --context {CTX}", files)
    assert is_opaque(op) and op.destructive


# --------------------------------------------------------------------------- updates

@pytest.mark.parametrize("cmd,target", [
    ("patch deploy web -p '{\"spec\":{}}' -n web", "k8s:C:deployment:web/web"),
    ("patch deploy/web --type merge --patch-file p.json -n web", "k8s:C:deployment:web/web"),
    ("edit svc/web -n web", "k8s:C:service:web/web"),
    ("label ns web team=payments --overwrite", "k8s:C:namespace:web"),
    ("label pods web-0 unhealthy- -n web", "k8s:C:pod:web/web-0"),
    ("annotate deploy web a=b c- -n web", "k8s:C:deployment:web/web"),
    ("set image deploy/web web=nginx:1.27 -n web", "k8s:C:deployment:web/web"),
    ("set image deployment web app=x:1 side=y:2 -n web", "k8s:C:deployment:web/web"),
    ("set env deploy/web A=1 B- -n web", "k8s:C:deployment:web/web"),
    ("set env deploy/web --from=secret/creds -c app -n web", "k8s:C:deployment:web/web"),
    ("set resources deploy web --limits=cpu=1 -n web", "k8s:C:deployment:web/web"),
    ("set selector svc web app=web2 -n web", "k8s:C:service:web/web"),
    ("set serviceaccount deploy web bot -n web", "k8s:C:deployment:web/web"),
    ("set sa deploy/web bot -n web", "k8s:C:deployment:web/web"),
    ("set subject rolebinding rb --user=alice -n web", "k8s:C:rolebinding:web/rb"),
    ("autoscale deploy web --min 2 --max 5 --cpu-percent 80 -n web",
     "k8s:C:deployment:web/web"),
    ("rollout undo deploy/web --to-revision 2 -n web", "k8s:C:deployment:web/web"),
    ("rollout pause deploy/web -n web", "k8s:C:deployment:web/web"),
    ("rollout resume deploy/web -n web", "k8s:C:deployment:web/web"),
    ("drain node-1 --ignore-daemonsets --delete-emptydir-data --force", "k8s:C:node:node-1"),
    ("cordon node-1", "k8s:C:node:node-1"),
    ("uncordon node/node-1", "k8s:C:node:node-1"),
    ("taint nodes node-1 dedicated=db:NoSchedule", "k8s:C:node:node-1"),
    ("taint node node-1 dedicated:NoSchedule-", "k8s:C:node:node-1"),
    ("certificate approve csr-1", "k8s:C:certificatesigningrequest:csr-1"),
])
def test_update_verbs(cmd, target):
    op = one(f"kubectl {cmd} --context C")
    assert (op.verb, op.target, op.upsert) == (Verb.UPDATE, target, False)


def test_scale_and_restart():
    op = one(f"kubectl scale deploy web --replicas=0 -n web --context {CTX}")
    assert (op.verb, op.target) == (Verb.SCALE, f"k8s:{CTX}:deployment:web/web")
    op = one(f"kubectl rollout restart deploy/web -n web --context {CTX}")
    assert (op.verb, op.target) == (Verb.RESTART, f"k8s:{CTX}:deployment:web/web")
    assert op.note == "kubectl rollout restart deployment web/web"


@pytest.mark.parametrize("sub,verb", [("restart", Verb.RESTART), ("undo", Verb.UPDATE),
                                      ("pause", Verb.UPDATE), ("resume", Verb.UPDATE)])
def test_rollout_of_a_bare_type_means_every_object_of_it(sub, verb):
    # kubectl: "kubectl rollout restart deployment -n shop" restarts every deployment there.
    op = one(f"kubectl rollout {sub} deployment -n shop --context {CTX}")
    assert (op.verb, op.target, op.selector) == (
        verb, None, {"alias_prefix": f"k8s:{CTX}:deployment:shop/"})


def test_edit_of_a_bare_type_means_every_object_of_it():
    op = one(f"kubectl edit deploy -n shop --context {CTX}")
    assert (op.verb, op.selector) == (Verb.UPDATE, {"alias_prefix": f"k8s:{CTX}:deployment:shop/"})


def test_rollout_status_of_a_bare_type_reads_the_namespace():
    op = one(f"kubectl rollout status deployment -n shop --context {CTX}")
    assert (op.verb, op.target) == (Verb.READ, f"k8s:{CTX}:namespace:shop")


def test_scale_by_selector_and_restart_by_selector():
    op = one(f"kubectl scale deploy -l team=web --replicas 0 -n web --context {CTX}")
    assert (op.verb, op.selector) == (
        Verb.SCALE, {"alias_prefix": f"k8s:{CTX}:deployment:web/", "tags": {"team": "web"}})
    op = one(f"kubectl rollout restart deploy --selector team=web -A --context {CTX}")
    assert (op.verb, op.selector) == (
        Verb.RESTART, {"alias_prefix": f"k8s:{CTX}:deployment:", "tags": {"team": "web"}})


def test_label_all_and_drain_selector():
    op = one(f"kubectl label pods --all team=web -n web --context {CTX}")
    assert (op.verb, op.selector) == (Verb.UPDATE, {"alias_prefix": f"k8s:{CTX}:pod:web/"})
    op = one(f"kubectl drain -l pool=spot --context {CTX}")
    assert (op.verb, op.selector) == (
        Verb.UPDATE, {"alias_prefix": f"k8s:{CTX}:node:", "tags": {"pool": "spot"}})


def test_several_nodes():
    ops = run(f"kubectl cordon node-1 node-2 --context {CTX}")
    assert targets(ops) == [f"k8s:{CTX}:node:node-1", f"k8s:{CTX}:node:node-2"]


def test_expose_creates_a_service():
    op = one(f"kubectl expose deploy web --port 80 --name web-svc -n web --context {CTX}")
    assert (op.verb, op.target) == (Verb.CREATE, f"k8s:{CTX}:service:web/web-svc")
    op = one(f"kubectl expose deployment/web --port 80 -l a=b -n web --context {CTX}")
    assert (op.verb, op.target) == (Verb.CREATE, f"k8s:{CTX}:service:web/web")


def test_auth_reconcile_is_an_upsert():
    files = reader({"r.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
                              "metadata: {name: reader}\n"})
    op = one(f"kubectl auth reconcile -f r.yaml --context {CTX}", files)
    assert (op.verb, op.target, op.upsert) == (Verb.UPDATE, f"k8s:{CTX}:clusterrole:reader",
                                               True)


@pytest.mark.parametrize("cmd", [
    "patch deploy", "label pods app=x", "set image deploy web=x", "scale deploy --replicas 2", "scale deploy/web -A",
    "set frobnicate deploy/web", "set selector", "rollout frob deploy/web", "rollout",
    "taint pods web-0 a=b:NoSchedule", "taint node/x pod/y a:NoSchedule",
    "drain pod/web-0", "drain", "cordon ''", "certificate frob csr-1",
    "auth frob", "expose deploy", "expose deploy a b",
    "label pods a=b web-0", "set", "scale deploy --replicas 3",
])
def test_doubtful_updates_are_opaque(cmd):
    assert all(is_opaque(op) for op in run(f"kubectl {cmd} --context {CTX}"))


# --------------------------------------------------------------------------- exec family

def test_exec_on_a_named_pod():
    op = one(f"kubectl exec -it web-0 -c app -n web --context {CTX} -- sh -c 'rm -rf /'")
    assert op == Operation(Verb.EXEC, target=f"k8s:{CTX}:pod:web/web-0",
                           note="kubectl exec pod web/web-0")


def test_exec_on_a_deployment_and_without_dash():
    assert one(f"kubectl exec deploy/web -n web --context {CTX} -- ls").target == \
        f"k8s:{CTX}:deployment:web/web"
    assert one(f"kubectl exec web-0 --context {CTX} date").target == \
        f"k8s:{CTX}:pod:default/web-0"


@pytest.mark.parametrize("cmd,target", [
    ("attach web-0 -i -t -n web", "k8s:C:pod:web/web-0"),
    ("port-forward svc/web 8080:80 -n web", "k8s:C:service:web/web"),
    ("port-forward web-0 8080 --address 0.0.0.0 -n web", "k8s:C:pod:web/web-0"),
    ("debug web-0 -it --image=busybox --target=app -n web", "k8s:C:pod:web/web-0"),
    ("debug node/node-1 -it --image=ubuntu", "k8s:C:node:node-1"),
    ("attach deploy web -n web", "k8s:C:deployment:web/web"),
    ("cp web/web-0:/var/log/app.log ./app.log", "k8s:C:pod:web/web-0"),
    ("cp ./x web-0:/tmp/x -c app -n web", "k8s:C:pod:web/web-0"),
])
def test_exec_family_targets(cmd, target):
    op = one(f"kubectl {cmd} --context C")
    assert (op.verb, op.target) == (Verb.EXEC, target)


@pytest.mark.parametrize("cmd", [
    "exec", "exec -- ls", "attach", "cp a b", "cp a:x b:y", "cp a/b/c:x ./y", "cp :x y",
    "cp x", "run web --image nginx", "run -it debug --image=busybox --rm -- sh",
    "proxy --port 8001", "plugin frob", "alpha events", "ctx prod", "krew install x",
    "frobnicate",
])
def test_exec_family_without_a_certain_target_is_opaque(cmd):
    assert all(is_opaque(op) for op in run(f"kubectl {cmd} --context {CTX}"))


def test_dry_run_does_not_tame_exec():
    op = one(f"kubectl exec --dry-run=server web-0 --context {CTX} -- rm -rf /")
    assert (op.verb, op.target) == (Verb.EXEC, f"k8s:{CTX}:pod:default/web-0")


def test_debug_reaches_every_target():
    ops = run(f"kubectl debug web-0 web-1 -n web --image busybox --context {CTX}")
    assert targets(ops) == [f"k8s:{CTX}:pod:web/web-0", f"k8s:{CTX}:pod:web/web-1"]
    assert all(op.verb is Verb.EXEC for op in ops)


def test_exec_without_context_is_opaque():
    assert is_opaque(one("kubectl exec web-0 -- ls"))


# --------------------------------------------------------------------------- dry run

@pytest.mark.parametrize("dry", ["--dry-run=client", "--dry-run=server", "--dry-run",
                                 "--dry-run=unchanged"])
def test_dry_run_is_a_read(dry):
    op = one(f"kubectl delete deploy web -n web {dry} --context {CTX}")
    assert op == Operation(Verb.READ, target=f"k8s:{CTX}:deployment:web/web",
                           fallback=f"k8s:{CTX}:namespace:web",
                           note="kubectl delete deployment web/web (dry run)")


def test_dry_run_none_is_a_real_run():
    assert one(f"kubectl delete ns x --dry-run=none --context {CTX}").verb is Verb.DELETE


@pytest.mark.parametrize("dry", ["--dry-run=true", "--dry-run=false", "--dry-run=Client",
                                 "--dry-run=yes"])
def test_unknown_dry_run_values_are_opaque(dry):
    op = one(f"kubectl delete ns x {dry} --context {CTX}")
    assert is_opaque(op) and op.destructive


def test_bare_dry_run_does_not_take_the_next_word():
    # kubectl reads `--dry-run server` as a bare --dry-run and a resource name "server".
    ops = run(f"kubectl delete ns foo --dry-run server --context {CTX}")
    assert targets(ops) == [f"k8s:{CTX}:namespace:foo", f"k8s:{CTX}:namespace:server"]
    assert all(op.verb is Verb.READ for op in ops)


def test_dry_run_of_selector_and_unreadable_manifest_are_reads():
    op = one(f"kubectl delete pods -l 'app in (a)' -n web --dry-run=server --context {CTX}")
    assert (op.verb, op.target) == (Verb.READ, f"k8s:{CTX}:namespace:web")
    op = one(f"kubectl apply -f - --dry-run=client --context {CTX}")
    assert (op.verb, op.target) == (Verb.READ, f"k8s:{CTX}:cluster:{CTX}")
    op = one(f"kubectl apply --prune -f - --dry-run=server --context {CTX}")
    assert op.verb is Verb.READ


def test_dry_run_create_and_run_generate_yaml():
    op = one(f"kubectl create deployment web --image x --dry-run=client -o yaml --context {CTX}")
    assert (op.verb, op.target) == (Verb.READ, f"k8s:{CTX}:deployment:default/web")
    op = one(f"kubectl run web --image nginx --dry-run=client -o yaml -n web --context {CTX}")
    assert (op.verb, op.target) == (Verb.READ, f"k8s:{CTX}:pod:web/web")


def test_dry_run_without_context_is_an_unresolvable_read():
    op = one("kubectl delete ns payments --dry-run=server")
    assert op.verb is Verb.READ and op.target.startswith("<no --context")


@pytest.mark.parametrize("cmd", ["label pods web-0 a=b --local -o yaml -f p.yaml",
                                 "set image -f d.yaml web=x --local -o yaml",
                                 "label ns web --list", "set env deploy/web --list"])
def test_local_and_list_are_reads(cmd):
    files = reader({"p.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: web-0}\n",
                    "d.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"})
    ops = run(f"kubectl {cmd} --context {CTX}", files)
    assert ops and all(op.verb is Verb.READ for op in ops)


def test_local_false_is_not_local():
    op = one(f"kubectl label ns web a=b --local=false --context {CTX}")
    assert op.verb is Verb.UPDATE


# --------------------------------------------------------------------------- flag parsing

def test_bundled_short_flags():
    op = one(f"kubectl exec -itn web web-0 --context {CTX} -- sh")
    assert op.target == f"k8s:{CTX}:pod:web/web-0"


def test_boolean_shorthand_with_value():
    op = one(f"kubectl get pods -A=false -n web --context {CTX}")
    assert op.target == f"k8s:{CTX}:namespace:web"


def test_all_false_is_not_all():
    op = one(f"kubectl delete pods --all=false --context {CTX}")
    assert is_opaque(op) and op.destructive


@pytest.mark.parametrize("cmd", [
    "delete ns x --frobnicate", "delete ns x -Z", "delete ns x --all=maybe",
    "delete ns x -n", "delete ns x --grace-period", "delete ns x ---x", "delete ns x --=x",
    "delete ns x --nämespace=y", "get pods -o", "delete ns x -A=perhaps",
])
def test_bad_flags_are_opaque(cmd):
    assert is_opaque(one(f"kubectl --context {CTX} {cmd}"))


def test_flag_value_is_not_mistaken_for_a_name():
    ops = run(f"kubectl delete pod -o name --grace-period 30 web-0 --timeout 1m -n web "
              f"--context {CTX}")
    assert targets(ops) == [f"k8s:{CTX}:pod:web/web-0"]


def test_dash_alone_is_a_word():
    op = one(f"kubectl delete pod - --context {CTX}")
    assert is_opaque(op)


def test_words_after_double_dash_are_resource_arguments_for_delete():
    assert one(f"kubectl delete --context {CTX} -- ns foo").target == \
        f"k8s:{CTX}:namespace:foo"


def test_global_flags_before_the_command():
    op = one(f"kubectl --context {CTX} -n web --request-timeout 5s -v 6 delete deploy web")
    assert op.target == f"k8s:{CTX}:deployment:web/web"


def test_unknown_flag_before_the_command_is_opaque():
    assert is_opaque(one(f"kubectl --frob x --context {CTX} delete ns y"))


@pytest.mark.parametrize("argv", [
    ["kubectl", ""], ["kubectl", "", "", ""], ["kubectl", "delete", ""],
    ["kubectl", "delete", "ns", "\x00"], ["kubectl", "\u202edelete", "ns", "x"],
    ["kubectl", "delete", "ns", "pay\u200bments", "--context", CTX],
    ["kubectl", "dеlete", "ns", "x", "--context", CTX],       # Cyrillic e
    ["kubectl", "delete", "ns", "x\n", "--context", CTX],
    ["kubectl", "--context", CTX, "-n", "web\n", "delete", "pod", "x"],
])
def test_odd_input_is_opaque(argv):
    ops = interpret_kubectl(argv)
    assert ops and all(is_opaque(op) for op in ops)


def test_notes_are_short_descriptions():
    op = one(f"kubectl scale sts db --replicas 1 -n data --context {CTX}")
    assert op.note == "kubectl scale statefulset data/db"
    op = one(f"kubectl delete pods -l app=web -n web --context {CTX}")
    assert op.note == "kubectl delete pods in namespace web matching selector app=web"


# --------------------------------------------------------------------------- properties

COMMANDS = ["get", "describe", "delete", "create", "apply", "replace", "patch", "edit",
            "label", "annotate", "set", "image", "env", "scale", "autoscale", "rollout",
            "restart", "undo", "status", "drain", "cordon", "taint", "exec", "cp", "logs",
            "run", "debug", "port-forward", "config", "auth", "can-i", "top", "expose",
            "certificate", "approve", "wait", "diff", "events", "version", "proxy"]
KINDS = ["ns", "namespace", "pods", "po", "deploy", "deployment/web", "svc", "node",
         "nodes/n1", "all", "sts", "pvc", "crd", "widgets.example.com", "secret", "cm",
         "deploy,svc", "secret", "generic", "clusterip"]
NAMES = ["web", "web-0", "payments", "a", "system:x", "web/web-0:/tmp/x", "./local",
         "app=web", "k-", "key=v:NoSchedule", "-", "", "ｗｅｂ", "node-1"]
FLAGS = ["-n", "web", "-nweb", "-n=web", "--namespace", "--namespace=web", "-A",
         "--all-namespaces", "-l", "app=web", "-lapp!=web", "--selector=app=web", "--all",
         "--all=false", "-f", "good.yaml", "bad.yaml", "list.yaml", "missing.yaml", "-", "-k",
         "-o", "yaml", "--dry-run", "--dry-run=client", "--dry-run=server",
         "--dry-run=none", "--force", "--prune", "--grace-period", "0", "--cascade",
         "--cascade=orphan", "-R", "--kubeconfig", "/tmp/kc", "--server", "https://x",
         "--cluster", "c", "--user", "u", "--local", "--list", "--", "-it", "-c", "app",
         "--image", "nginx", "--replicas=3", "--raw", "/api", "-p", "{}", "--field-selector",
         "a=b", "--as", "admin", "-v", "9", "-h", "--frob", "-Z", "=", "--=x"]
VOCABULARY = COMMANDS + KINDS + NAMES + FLAGS
MANIFESTS = {
    "good.yaml": MULTI,
    "list.yaml": "apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Pod, "
                 "metadata: {name: p}}, 3, null]\n",
    "bad.yaml": "kind: [unclosed\n",
}
FILES = reader(MANIFESTS)
words = st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=10),
                  st.text(alphabet="-=/:,.ak\u212A\u0435\u200b ", max_size=6))
argvs = st.lists(words, max_size=10).map(lambda rest: ["kubectl", *rest])


def _valid(op: Operation) -> bool:
    named = (op.target is not None) + (op.selector is not None)
    return isinstance(op, Operation) and op.verb in Verb and (
        named == 1 or (named == 0 and op.verb is Verb.READ))


def _resolvable(target: str | None) -> bool:
    return target is not None and target.startswith("k8s:") and " " not in target


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argvs)
def test_property_never_raises_and_returns_valid_operations(argv):
    ops = interpret_kubectl(argv, FILES)
    assert isinstance(ops, list) and ops
    assert all(_valid(op) for op in ops)
    # Nothing in the interpreter proper relies on the last-resort safety net:
    text = shlex.join(["kubectl", *argv[1:]])
    try:
        kmod._interpret(argv, FILES, text)
    except kmod._Unsure:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=20), max_size=8))
def test_property_arbitrary_unicode_never_raises(rest):
    ops = interpret_kubectl(["kubectl", *rest], FILES)
    assert ops and all(_valid(op) for op in ops)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argvs)
def test_property_no_context_means_nothing_resolvable(argv):
    if any(w == "--context" or w.startswith("--context=") for w in argv):
        return
    for op in interpret_kubectl(argv, FILES):
        assert op.selector is None
        assert not _resolvable(op.target) and not _resolvable(op.fallback)
        if op.target is None:
            assert op.verb is Verb.READ


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argvs, st.sampled_from(["prod-us-east-1", "arn:aws:eks:us-east-1:1:cluster/p", "dev"]))
def test_property_every_alias_is_in_the_given_context(argv, ctx):
    if any(w.startswith("--context") for w in argv):
        return
    argv = [argv[0], "--context", ctx, *argv[1:]]
    for op in interpret_kubectl(argv, FILES):
        for alias in (op.target, op.fallback, (op.selector or {}).get("alias_prefix")):
            if _resolvable(alias):
                assert alias.startswith(f"k8s:{ctx}:")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(KINDS + NAMES + [w for w in FLAGS if "dry-run" not in w
                                                 and w not in ("--local", "--list", "-h")]),
                max_size=8))
def test_property_delete_is_never_harmless(rest):
    # Unless it is a dry run, `kubectl delete ...` yields only deletes or destructive exec.
    argv = ["kubectl", "delete", *rest, "--context", CTX]
    for op in interpret_kubectl(argv, FILES):
        assert op.verb is Verb.DELETE or (op.verb is Verb.EXEC and op.destructive), op


CONFIG_CHANGE_WORDS = ["set-context", "set-cluster", "set-credentials", "use-context", "use",
                       "delete-context", "delete-cluster", "delete-user", "rename-context", "set",
                       "unset"]
GLOBAL_FLAGS = [["--kubeconfig", "/tmp/kc"], ["--kubeconfig=/tmp/kc"], ["-v", "9"], ["--v=2"],
                ["--request-timeout", "5s"], ["--context", CTX], ["-n", "web"],
                ["--insecure-skip-tls-verify"]]
CONFIG_ARGS = ["staging", CTX, "--cluster", "prod", "--current", "--namespace=payments",
               "--server=https://x", "contexts.staging.cluster", "--token", "t", "--embed-certs"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(GLOBAL_FLAGS), max_size=3), st.lists(st.sampled_from(GLOBAL_FLAGS), max_size=2),
       st.sampled_from(CONFIG_CHANGE_WORDS), st.lists(st.sampled_from(CONFIG_ARGS), max_size=5))
def test_property_a_kubeconfig_rewrite_is_never_a_read(before, between, sub, args):
    """Wherever the global flags stand, a config subcommand that rewrites the kubeconfig is opaque."""
    argv = ["kubectl", *sum(before, []), "config", *sum(between, []), sub, *args]
    for op in interpret_kubectl(argv, FILES):
        assert is_opaque(op), (argv, op)


# --------------------------------------------------------------------------- properties: manifests, -f, kustomize

def _kubectl_would_see(text: str) -> set[tuple[str, str]]:
    """A model of kubectl's reader (the older, lenient one): split at every line that starts
    with `---`, whatever follows, and read every part that parses on its own."""
    seen, part = set(), []
    for line in text.split("\n") + ["---"]:
        if not line.startswith("---"):
            part.append(line)
            continue
        try:
            doc = yaml.safe_load("\n".join(part))
        except yaml.YAMLError:
            doc = None
        part = []
        if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
            seen.add((str(doc.get("kind")).lower(), str(doc["metadata"].get("name"))))
    return seen


DOCS = [PAYMENTS, NODE, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cart\n  namespace: shop\n"]
no_newline = st.text(st.characters(blacklist_characters="\n"), max_size=12)
dash_suffixes = st.one_of(
    no_newline,
    st.tuples(st.sampled_from(["", " ", "#", "#: x", "#x: y", " # c", "\t#", "x: y", "-", "foo"]),
              no_newline).map("".join))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(DOCS), min_size=1, max_size=3),
       st.lists(dash_suffixes, min_size=2, max_size=2),
       st.lists(st.tuples(st.integers(min_value=0, max_value=40), dash_suffixes), max_size=2))
def test_property_a_line_starting_with_dashes_never_hides_an_object(docs, seps, inserts):
    """Documents separated by `---<anything>` lines, more such lines inserted anywhere: the
    delete is opaque and destructive, or it deletes every object kubectl's reader could see."""
    text = docs[0]
    for sep, doc in zip(seps, docs[1:]):
        text += "---" + sep + "\n" + doc
    lines = text.split("\n")
    for at, suffix in inserts:
        lines.insert(at % (len(lines) + 1), "---" + suffix)
    text = "\n".join(lines)
    ops = delete_ops(text)
    assert ops and all(op.verb is Verb.DELETE or (is_opaque(op) and op.destructive) for op in ops)
    if any(is_opaque(op) for op in ops):
        return
    deleted = {tuple(op.target.split(":")[2:4]) for op in ops}
    deleted = {(kind, name.rsplit("/", 1)[-1]) for kind, name in deleted}
    assert _kubectl_would_see(text) <= deleted, (text, ops)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(DOCS), st.sampled_from(["apiVersion: v1", "kind: Node",
                                                "metadata: {name: web}", "'kind': Pod",
                                                "metadata:\n  name: other"]))
def test_property_a_repeated_top_level_key_is_opaque(doc, line):
    ops = delete_ops(doc + line + "\n")
    assert opaque_destructive(ops), ops


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["m.yaml", "a.yaml", "", ",", '"', " "]), min_size=1,
                max_size=6).map("".join).filter(lambda v: '"' in v),
       st.sampled_from(["delete", "apply", "get", "replace", "create", "label", "diff"]),
       st.sampled_from(["-f {}", "--filename={}", "-f{}", "--filename {}"]))
def test_property_a_filename_with_a_quote_is_never_interpreted(value, command, form):
    flag = shlex.split(form.format(shlex.quote(value)))
    files = reader({"m.yaml": PAYMENTS, "a.yaml": NODE, '"m.yaml"': NODE})
    ops = interpret_kubectl(["kubectl", command, *flag, "--context", CTX], files)
    assert ops and all(is_opaque(op) for op in ops), (value, command, ops)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a.yaml", "b.yaml", "m.yaml"]), min_size=1, max_size=4))
def test_property_plain_comma_lists_name_every_file(names):
    files = reader({"a.yaml": PAYMENTS, "b.yaml": NODE, "m.yaml": DOCS[2]})
    ops = interpret_kubectl(["kubectl", "delete", "-f", ",".join(names), "--context", CTX], files)
    expected = {"a.yaml": f"k8s:{CTX}:namespace:payments", "b.yaml": f"k8s:{CTX}:node:node-0",
                "m.yaml": f"k8s:{CTX}:namespace:web"}
    assert targets(ops) == list(dict.fromkeys(expected[n] for n in names))


KUSTOMIZE_HARMLESS_WORDS = [["-v", "2"], ["--context", CTX], ["-n", "web"], ["overlays/prod"],
                            ["--enable-managedby-label"], ["--reorder", "legacy"],
                            ["--load-restrictor=LoadRestrictionsRootOnly"]]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(KUSTOMIZE_HARMLESS_WORDS), max_size=3),
       st.lists(st.sampled_from(KUSTOMIZE_HARMLESS_WORDS), max_size=3),
       st.sampled_from(KUSTOMIZE_RISKS))
def test_property_kustomize_with_a_risky_flag_is_never_a_read(before, after, risk):
    argv = ["kubectl", "kustomize", *sum(before, []), *shlex.split(risk), *sum(after, [])]
    for op in interpret_kubectl(argv):
        assert is_opaque(op), (argv, op)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argvs, st.integers(min_value=0, max_value=10),
       st.sampled_from(["--profile=cpu", "--profile=heap", "--kuberc=/tmp/k", "--profile=x"]))
def test_property_profiling_or_another_kuberc_is_always_opaque(argv, at, flag):
    rest = argv[1:]
    rest.insert(at % (len(rest) + 1), flag)
    if "debug" in rest and flag.startswith("--profile"):
        return
    for op in interpret_kubectl(["kubectl", *rest], FILES):
        assert is_opaque(op), (rest, op)


def test_every_flag_name_the_scanner_may_meet_has_a_known_arity():
    """A flag whose arity is unknown would shift every word after it: the global flags, the short
    spellings and every subcommand's own flags must each name a flag with a known arity."""
    from blastwall.core.interpret import kubectl as k
    assert set(k._GLOBAL_FLAGS) <= set(k._FLAGS)
    assert set(k._SHORT.values()) <= set(k._FLAGS)
    for command, short in k._COMMAND_SHORT.items():
        own = {**k._FLAGS, **k._COMMAND_FLAGS.get(command, {})}
        assert set(short.values()) <= set(own), command
    assert all(arity in (k._VALUE, k._BOOL, k._OPTIONAL) for table in (k._FLAGS, *k._COMMAND_FLAGS.values())
               for arity in table.values())
