"""argv -> Operations: dispatch, wrappers, terraform, cloud CLIs, local reads, opaque."""
import pytest
from hypothesis import given, settings, strategies as st

from blastwall.core.interpret import kubectl as kubectl_module
from blastwall.core.interpret.argv import interpret_argv, looks_destructive
from blastwall.core.model import Operation, Verb
from blastwall.errors import ProposalError

from tests.interpret.conftest import RECORDED


def only(ops):
    assert len(ops) == 1, ops
    return ops[0]


def assert_read(argv):
    op = only(interpret_argv(argv))
    assert op.verb is Verb.READ, op
    assert op.target is None and op.selector is None, op
    return op


def assert_opaque(argv, destructive=None):
    op = only(interpret_argv(argv))
    assert op.verb is Verb.EXEC, op
    assert op.target.startswith("<opaque: ") and " " in op.target, op
    if destructive is not None:
        assert op.destructive is destructive, op
    return op


# --- kubectl dispatch --------------------------------------------------------------------

def test_kubectl_argv_goes_to_the_kubectl_interpreter(kubectl_calls):
    files = lambda path: None  # noqa: E731
    assert interpret_argv(["kubectl", "delete", "ns", "payments"], files) == [RECORDED]
    assert kubectl_calls == [["kubectl", "delete", "ns", "payments"]]


def test_kubectl_in_a_system_bin_dir_is_kubectl(kubectl_calls):
    interpret_argv(("/usr/local/bin/kubectl", "get", "pods"))
    assert kubectl_calls == [["/usr/local/bin/kubectl", "get", "pods"]]


@pytest.mark.parametrize("word", ["./kubectl", "/tmp/kubectl", "bin/kubectl", "$K", "kub ectl",
                                  "kubеctl", "~/kubectl", ""])
def test_a_command_word_that_is_not_a_plain_name_is_opaque(kubectl_calls, word):
    assert_opaque([word, "get", "pods"])
    assert kubectl_calls == []


def test_empty_argv_is_a_proposal_error():
    with pytest.raises(ProposalError):
        interpret_argv([])


@pytest.mark.parametrize("bad", ["pay\x00ments", "pay\nments", "\x1b[31m", "pay\u202ements",
                                 "a\rb", "x\x7f", "a\u2028b"])
def test_control_characters_anywhere_make_it_opaque(kubectl_calls, bad):
    assert_opaque(["kubectl", "delete", "ns", bad])
    assert_opaque(["echo", bad])
    assert kubectl_calls == []


def test_non_string_elements_are_opaque():
    op = only(interpret_argv(["echo", 3]))
    assert op.verb is Verb.EXEC


# --- wrappers ----------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", [
    ["sudo"], ["sudo", "-u", "ops", "-E", "-n", "--"], ["sudo", "-nEu", "root"], ["sudo", "--user=ops"],
    ["env"], ["env", "-i", "A=1", "B=2"], ["env", "-u", "HOME"], ["env", "-", "X=y"],
    ["timeout", "10"], ["timeout", "-s", "KILL", "-k", "5", "1.5m"], ["timeout", "--signal=TERM", "3s"],
    ["nice"], ["nice", "-n", "10"], ["nice", "-5"], ["nohup"], ["time"], ["time", "-p"],
    ["command"], ["command", "-p"], ["exec"], ["exec", "-a", "name"], ["stdbuf", "-oL", "-e", "0"],
    ["ionice", "-c", "3"], ["sudo", "env", "A=1", "timeout", "5", "nice", "nohup"],
])
def test_wrappers_are_unwrapped_to_the_command_they_run(kubectl_calls, prefix):
    assert interpret_argv([*prefix, "kubectl", "delete", "ns", "x"]) == [RECORDED]
    assert kubectl_calls == [["kubectl", "delete", "ns", "x"]]


@pytest.mark.parametrize("argv", [
    ["sudo"], ["sudo", "-e", "/etc/hosts"], ["sudo", "-l"], ["sudo", "-s"], ["sudo", "--bogus", "ls"],
    ["env", "-S", "kubectl delete ns x"], ["env", "PATH=/tmp", "kubectl", "get", "pods"],
    ["env", "LD_PRELOAD=/x.so", "ls"], ["env", "KUBECONFIG=/tmp/k", "kubectl", "get", "pods"],
    ["timeout", "soon", "ls"], ["timeout", "5"], ["nice"], ["nohup"], ["exec"],
    ["time", "-o", "out.txt", "ls"], ["ionice", "-p", "1"], ["command"], ["stdbuf", "-x", "ls"],
])
def test_wrappers_without_a_plain_command_are_opaque(kubectl_calls, argv):
    assert_opaque(argv)
    assert kubectl_calls == []


def test_env_without_a_command_prints_the_environment_and_its_credentials():
    assert "credentials" in assert_opaque(["env"]).note
    assert "credentials" in assert_opaque(["env", "-u", "HOME"]).note
    assert_read(["command", "-v", "kubectl"])


def test_a_wrapped_command_is_judged_like_the_bare_one():
    assert_read(["sudo", "ls", "-la"])
    assert_opaque(["sudo", "rm", "-rf", "/"], destructive=True)
    assert_opaque(["nohup", "terraform", "destroy"], destructive=True)


# --- shells ------------------------------------------------------------------------------

@pytest.mark.parametrize("shell", ["bash", "sh", "zsh", "dash", "/bin/bash", "/usr/bin/sh"])
def test_shell_dash_c_interprets_its_script(kubectl_calls, shell):
    ops = interpret_argv([shell, "-c", "ls; kubectl delete ns payments --context prod"])
    assert ops[0].verb is Verb.READ and ops[1:] == [RECORDED]
    assert kubectl_calls == [["kubectl", "delete", "ns", "payments", "--context", "prod"]]


@pytest.mark.parametrize("options", [["-lc"], ["-e", "-c"], ["-o", "pipefail", "-c"], ["-xec"],
                                     ["--norc", "-c"], ["-c", "-e"]])
def test_shell_options_around_dash_c(kubectl_calls, options):
    interpret_argv(["bash", *options, "kubectl get pods"])
    assert kubectl_calls == [["kubectl", "get", "pods"]]


@pytest.mark.parametrize("argv", [["bash"], ["sh", "script.sh"], ["bash", "-s"], ["bash", "-i", "-c", "ls"],
                                  ["bash", "--rcfile", "x", "-c", "ls"], ["bash", "-c"], ["sh", "-"]])
def test_shells_reading_code_from_elsewhere_are_opaque(argv):
    assert_opaque(argv)


def test_nested_shells_are_followed_up_to_the_depth_limit():
    import shlex
    script = "ls"
    for _ in range(5):
        script = shlex.join(["bash", "-c", script])
    assert_read(shlex.split(script))           # five shells inside the argv's own shell: fine
    deeper = shlex.split(shlex.join(["bash", "-c", script]))
    op = only(interpret_argv(deeper))
    assert op.verb is Verb.EXEC and "nested" in op.note


def test_zsh_scripts_treat_any_expansion_as_opaque():
    assert_read(["bash", "-c", "ls *.txt"])
    assert_opaque(["zsh", "-c", "ls *.txt"])


# --- terraform ---------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["plan"], ["plan", "-destroy", "-out=tf.plan"], ["show"], ["show", "tf.plan"], ["validate"],
    ["fmt"], ["fmt", "-write=true"], ["init", "-upgrade"], ["output"], ["output", "db_url"],
    ["output", "-json=false"], ["providers"], ["version"], ["-version"], ["graph"], ["state", "list"],
    ["state", "show", "aws_instance.a"], ["workspace", "list"], ["workspace", "show"], ["get"], [],
])
def test_terraform_reads(args):
    assert_read(["terraform", *args])
    assert_read(["terraform", "-chdir=infra/prod", *args])


@pytest.mark.parametrize("args, destructive", [
    (["apply"], False), (["apply", "-auto-approve"], False), (["apply", "-destroy"], True),
    (["apply", "-destroy=true", "-auto-approve"], True), (["destroy"], True),
    (["destroy", "-target=aws_instance.a"], True), (["state", "rm", "aws_instance.a"], True),
    (["state", "mv", "a", "b"], False), (["state", "push", "x.tfstate"], False),
    (["state", "replace-provider", "a", "b"], False), (["import", "a.b", "id"], False),
    (["taint", "a.b"], False), (["untaint", "a.b"], False), (["force-unlock", "123"], False),
    (["workspace", "delete", "prod"], True), (["workspace", "new", "x"], False),
    (["workspace", "select", "prod"], False), (["refresh"], False), (["login"], False),
    (["test"], False), (["init", "-migrate-state"], False), (["frobnicate"], False),
    (["-chdir", "x", "plan"], False),
])
def test_terraform_changes_are_opaque(args, destructive):
    assert_opaque(["terraform", *args], destructive=destructive)


def test_terraform_apply_of_a_plan_file_asks_for_the_plan_json():
    op = assert_opaque(["terraform", "apply", "-var", "x=1", "tf.plan"])
    assert "tf.plan" in op.note and "terraform show -json" in op.note and "terraform_plan" in op.note
    assert "terraform show -json" in assert_opaque(["terraform", "apply"]).note


# --- harmless local reads ----------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["echo", "hello"], ["printf", r"%s\n", "x"], ["cat", "README.md"], ["ls", "-la"], ["pwd"],
    ["head", "-n", "5", "f"], ["tail", "-f", "log"], ["grep", "-r", "x", "."], ["egrep", "a|b", "f"],
    ["wc", "-l", "f"], ["sort", "-rn", "f"], ["uniq", "-c", "f"], ["cut", "-d,", "-f1", "f"],
    ["jq", ".items", "f.json"], ["yq", ".a", "f.yaml"], ["date"], ["date", "+%F"],
    ["date", "-d", "yesterday", "+%s"], ["date", "-u", "--iso-8601=seconds"], ["whoami"], ["id"],
    ["hostname"], ["hostname", "-f"], ["uname", "-a"], ["which", "kubectl"], ["true"], ["false"],
    ["test", "-f", "x"], ["[", "-d", "dir", "]"], ["diff", "a", "b"], ["find", ".", "-name", "*.py"],
    ["stat", "f"], ["file", "f"], ["du", "-sh", "."], ["df", "-h"], ["sleep", "1"], ["less", "f"],
    ["more", "f"], ["tr", "a-z", "A-Z"], ["column", "-t"], ["basename", "/a/b"], ["dirname", "/a/b"],
    ["realpath", "."], ["git", "status"], ["git", "log", "--oneline", "-5"], ["git", "diff", "HEAD"],
    ["git", "show", "HEAD"], ["git", "branch"], ["git", "branch", "-a", "-v"],
    ["git", "branch", "--list", "feat*"], ["git", "--no-pager", "log"], ["git", "-C", "repo", "status"],
    ["cd", "/tmp"], ["set", "-euo", "pipefail"], ["export", "FOO=bar"], ["unset", "FOO"],
])
def test_harmless_local_commands_are_one_read_without_target(argv):
    op = assert_read(argv)
    assert argv[0] in op.note


@pytest.mark.parametrize("argv", [
    ["sed", "-i", "s/a/b/", "f"], ["sed", "-n", "p", "f"], ["tee", "f"], ["sort", "-o", "out", "f"],
    ["sort", "-no", "out", "f"], ["sort", "--output=out", "f"], ["sort", "--compress-program=sh", "f"],
    ["uniq", "in", "out"], ["find", ".", "-delete"], ["find", ".", "-exec", "rm", "{}", ";"],
    ["find", ".", "-execdir", "x", ";"], ["find", ".", "-ok", "rm", ";"], ["find", "/", "-fprint", "f"],
    ["yq", "-i", ".a=1", "f"], ["yq", "--inplace", ".a=1", "f"], ["date", "-s", "2020-01-01"],
    ["date", "0101"], ["hostname", "evil"], ["hostname", "-F", "f"], ["printf", "-v", "PATH", "/tmp"],
    ["git", "branch", "new-branch"], ["git", "branch", "-D", "main"], ["git", "push"],
    ["git", "checkout", "."], ["git", "-c", "core.pager=sh", "log"], ["git", "diff", "--output=f"],
    ["git"], ["less", "+!rm x", "f"], ["less", "-o", "log", "f"], ["file", "-C", "-m", "m"],
    ["test", "-v", "a[x]"], ["[", "-v", "a[x]", "]"], ["unset", "a[x]"], ["set", "-k"],
    ["export", "PATH=/tmp"], ["export", "-f", "x"], ["cp", "a", "b"], ["mv", "a", "b"],
    ["chmod", "777", "f"], ["curl", "-X", "DELETE", "http://x"], ["make"], ["helm", "install", "x"],
])
def test_commands_that_may_write_or_run_are_opaque(argv):
    assert_opaque(argv)


@pytest.mark.parametrize("argv", [
    ["rm", "-rf", "/"], ["rm", "-r", "d"], ["rm", "-fr", "d"], ["rm", "-R", "d"], ["rm", "--recursive", "d"],
    ["rm", "d", "-rf"], ["dd", "if=/dev/zero", "of=/dev/sda"], ["mkfs.ext4", "/dev/sdb"], ["mkfs", "/dev/x"],
    ["shred", "f"], ["truncate", "-s", "0", "f"], ["/bin/rm", "-rf", "x"],
])
def test_destructive_local_commands_are_opaque_and_destructive(argv):
    assert_opaque(argv, destructive=True)


def test_plain_rm_is_opaque_but_not_marked_destructive():
    assert_opaque(["rm", "file.txt"], destructive=False)
    assert_opaque(["rm", "-f", "file.txt"], destructive=False)


@pytest.mark.parametrize("argv, word", [
    (["python3", "-c", "import os"], "interpreter"), (["python3.11", "x.py"], "interpreter"),
    (["perl", "-e", "1"], "interpreter"), (["ruby", "-e", "1"], "interpreter"),
    (["node", "-e", "1"], "interpreter"), (["ssh", "host", "ls"], "another machine"),
    (["scp", "a", "h:b"], "another machine"), (["rsync", "-a", "x", "host:/y"], "another machine"),
    (["psql", "-c", "select 1"], "database"), (["mysql", "-e", "x"], "database"),
    (["mongosh"], "database"), (["redis-cli", "FLUSHALL"], "database"), (["sqlite3", "db"], "database"),
    (["eval", "ls"], "cannot see"), (["source", "x"], "cannot see"), ([".", "x"], "cannot see"),
    (["xargs", "rm"], "cannot see"), (["parallel", "x"], "cannot see"), (["watch", "ls"], "cannot see"),
])
def test_opaque_families_say_why(argv, word):
    assert word in assert_opaque(argv).note


def test_database_statements_that_drop_are_destructive():
    assert_opaque(["psql", "-c", "DROP TABLE users"], destructive=True)
    assert_opaque(["psql", "-c", "select 1"], destructive=False)


# --- cloud CLIs --------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["aws", "ec2", "describe-instances"], ["aws", "--region", "us-east-1", "s3api", "list-buckets"],
    ["aws", "sts", "get-caller-identity"], ["aws", "--profile=p", "--debug", "iam", "list-users"],
    ["aws", "s3", "ls", "s3://bucket"], ["aws", "eks", "describe-cluster", "--name", "c"],
    ["gcloud", "compute", "instances", "list"], ["gcloud", "compute", "instances", "describe", "vm-1"],
    ["gcloud", "--project", "p", "projects", "describe", "p"], ["gcloud", "config", "get-value", "project"],
    ["gcloud", "run", "services", "list"], ["gcloud", "auth", "list"],
    ["az", "vm", "list"], ["az", "group", "show", "-n", "rg"], ["az", "account", "show"],
    ["az", "-o", "json", "storage", "account", "list"],
])
def test_cloud_reads(argv):
    assert_read(argv)


@pytest.mark.parametrize("argv, destructive", [
    (["aws", "ec2", "terminate-instances", "--instance-ids", "i-1"], True),
    (["aws", "s3", "rm", "s3://b/k", "--recursive"], True), (["aws", "s3", "rb", "s3://b"], True),
    (["aws", "rds", "delete-db-instance"], True), (["aws", "ec2", "deregister-image"], True),
    (["aws", "ec2", "run-instances"], False), (["aws", "s3", "cp", "a", "s3://b"], False),
    (["aws", "eks", "update-kubeconfig", "--name", "c"], False),
    (["aws", "--bogus", "ec2", "describe-x"], False),
    (["aws", "ec2"], False), (["aws"], False),
    (["gcloud", "compute", "instances", "delete", "vm-1"], True),
    (["gcloud", "projects", "remove-iam-policy-binding", "p"], True),
    (["gcloud", "compute", "ssh", "list-vm", "--command", "x"], False),
    (["gcloud", "compute", "ssh", "describe"], False),
    (["gcloud", "container", "clusters", "get-credentials", "c"], False),
    (["gcloud", "compute", "instances", "create", "list"], False),
    (["gcloud", "compute", "instances", "delete", "list"], True),
    (["az", "group", "delete", "-n", "rg", "--yes"], True), (["az", "vm", "create", "-n", "x"], False),
    (["az", "vm", "run-command", "invoke", "-n", "get-vm", "--scripts", "x"], False),
    (["az", "aks", "get-credentials", "-n", "c"], False), (["az", "rest", "--method", "get"], False),
])
def test_cloud_changes_are_opaque(argv, destructive):
    assert_opaque(argv, destructive=destructive)


# --- helpers -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("rm -rf /", True), ("rm -f -r x", True), ("kubectl delete ns x", True), ("DROP TABLE x", True),
    ("terraform destroy", True), ("find . -delete", True), ("dd if=a of=b", True),
    ("ls -la", False), ("rm x", False), ("echo hello", False), ("add", False),
])
def test_looks_destructive(text, expected):
    assert looks_destructive(text) is expected


def test_directory_changing_wrappers_hide_relative_files(monkeypatch):
    seen = []

    def record(argv, files=None):
        seen.append((files("rel.yaml"), files("/abs.yaml")))
        return [RECORDED]

    monkeypatch.setattr(kubectl_module, "interpret_kubectl", record)
    files = lambda path: f"content of {path}"  # noqa: E731
    interpret_argv(["kubectl", "apply", "-f", "rel.yaml"], files)
    interpret_argv(["env", "-C", "/elsewhere", "kubectl", "apply", "-f", "rel.yaml"], files)
    interpret_argv(["sudo", "-D", "/elsewhere", "kubectl", "apply", "-f", "rel.yaml"], files)
    assert seen == [("content of rel.yaml", "content of /abs.yaml"),
                    (None, "content of /abs.yaml"), (None, "content of /abs.yaml")]


# --- properties ----------------------------------------------------------------------------

WORDS = ["kubectl", "terraform", "aws", "gcloud", "az", "sudo", "env", "bash", "-c", "sh", "ls", "rm",
         "-rf", "delete", "apply", "destroy", "plan", "describe-instances", "ec2", "--", "-n", "X=1",
         "PATH=/x", "timeout", "5", "nice", "git", "branch", "find", "-delete", "echo", "$X", "'"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(WORDS) | st.text(max_size=12), min_size=1, max_size=10))
def test_random_argv_never_raises_and_every_change_has_a_target(argv):
    with pytest.MonkeyPatch.context() as patch:      # kubectl's own fuzzing lives with kubectl
        patch.setattr(kubectl_module, "interpret_kubectl", lambda argv, files=None: [RECORDED])
        ops = interpret_argv(argv)
    assert ops and all(isinstance(op, Operation) for op in ops)
    for op in ops:
        if op.verb is not Verb.READ:
            assert isinstance(op.target, str) and op.target or op.selector, op


WRAPPERS = [["sudo"], ["sudo", "-u", "x"], ["env", "A=1"], ["timeout", "5"], ["nice", "-n", "3"], ["nohup"],
            ["time"], ["command"], ["exec"], ["stdbuf", "-oL"], ["ionice", "-c", "3"]]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(WRAPPERS), max_size=6), st.sampled_from(["rm", "dd", "shred", "mkfs.xfs"]))
def test_destructive_commands_stay_destructive_behind_any_wrappers(wrappers, command):
    argv = [word for wrapper in wrappers for word in wrapper] + [command, "-rf", "x"]
    op = only(interpret_argv(argv))
    assert op.verb is Verb.EXEC and op.destructive, argv


# --- cloud CLIs: the command word, not the last word --------------------------------------------
# `gcloud compute instances stop getaway` was a read: the last word was taken for the command.

def never_allowed(sample_fleet, recommended, argv):
    from datetime import datetime, timezone

    from blastwall.core.decide import Context, decide
    from blastwall.core.model import Effect
    from blastwall.core.proposal import parse_proposal
    decision = decide(sample_fleet, recommended, parse_proposal({"agent": "t", "argv": argv}),
                      Context(datetime(2026, 3, 4, 12, tzinfo=timezone.utc)))
    assert decision.effect is not Effect.ALLOW, (argv, decision)


GCLOUD_CHANGES_NAMED_LIKE_READS = [
    "gcloud compute instances stop getaway", "gcloud sql instances patch listings --activation-policy=NEVER",
    "gcloud container clusters resize listener --num-nodes=0 --zone x", "gcloud compute instances reset listen",
    "gcloud compute instances suspend showroom", "gcloud compute instances detach-disk getdisk --disk d",
    "gcloud compute instances stop list", "gcloud compute instances stop describe",
    "gcloud beta compute instances stop describe-me", "gcloud run services update list --image x",
    "gcloud functions deploy list", "gcloud builds triggers run list", "gcloud sql export sql list gs://b/x",
    "gcloud compute instances add-metadata get-iam-policy --metadata startup-script=x",
    "gcloud config set project list", "gcloud compute ssh list-vm --command x",
    "gcloud compute --project p instances stop list",      # a flag between groups ends the walk
]


@pytest.mark.parametrize("command", GCLOUD_CHANGES_NAMED_LIKE_READS)
def test_gcloud_changes_on_resources_named_like_reads_are_not_reads(sample_fleet, recommended, command):
    import shlex
    assert_opaque(shlex.split(command))
    never_allowed(sample_fleet, recommended, shlex.split(command))


@pytest.mark.parametrize("command, destructive", [
    ("gcloud compute instances delete getaway", True), ("gcloud beta sql instances delete list", True),
    ("gcloud compute instances stop deleted", True),      # a destroying word anywhere still warns
    ("gcloud compute instances stop getaway", False),
])
def test_gcloud_destructive_hint(command, destructive):
    assert_opaque(command.split(), destructive=destructive)


@pytest.mark.parametrize("command", [
    "gcloud compute instances list", "gcloud compute instances describe getaway --zone z",
    "gcloud beta compute instances list", "gcloud alpha run services list", "gcloud run services list",
    "gcloud compute routes list", "gcloud config configurations list", "gcloud config get project",
    "gcloud config get-value project", "gcloud sql ssl client-certs list --instance db",
    "gcloud logging metrics list", "gcloud projects get-iam-policy p", "gcloud deploy releases list",
    "gcloud container clusters describe prod --region r", "gcloud iam service-accounts keys list --iam-account a",
    "gcloud --project p --format=json compute instances list --filter=name:list",
    "gcloud iam list-grantable-roles //x", "gcloud compute instances list stop",   # NAME filters of list
])
def test_gcloud_genuine_reads_stay_reads(command):
    assert_read(command.split())


@pytest.mark.parametrize("command", [
    "gcloud compute instances", "gcloud list", "gcloud beta list", "gcloud version", "gcloud info",
    "gcloud compute instances get-serial-port-output vm", "gcloud compute diagnose routes list",
    "gcloud compute instances ops-agents policies list",        # unknown group: not a read
    "gcloud kms keys versions describe 1 --key k --keyring r --location l --attestation-file=/usr/local/bin/kubectl",
    "gcloud compute instances list --flags-file=f.yaml", "gcloud storage cat gs://b/o",
])
def test_gcloud_calls_that_are_not_known_reads_are_opaque(command):
    assert_opaque(command.split())


GCLOUD_GROUP_PATHS = [["compute", "instances"], ["beta", "compute", "instances"], ["sql", "instances"],
                      ["container", "clusters"], ["container", "node-pools"], ["run", "services"],
                      ["alpha", "run", "jobs"], ["compute", "routes"], ["iam", "service-accounts", "keys"],
                      ["config"], ["projects"], ["functions"], ["compute", "instance-groups", "managed"]]
GCLOUD_CHANGES = ["stop", "start", "reset", "suspend", "resume", "patch", "resize", "update", "set",
                  "create", "delete", "deploy", "detach-disk", "attach-disk", "add-metadata", "remove-metadata",
                  "set-machine-type", "add-iam-policy-binding", "set-iam-policy", "import", "export", "restore",
                  "failover", "promote-replica", "rollback", "upgrade", "unset", "execute", "run", "ssh",
                  "get-credentials", "get-auth-string", "cancel", "move", "frobnicate"]
READ_LOOKING_NAMES = st.sampled_from(["list", "describe", "get", "show", "get-iam-policy", "get-value",
                                      "list-grantable-roles", "instances", "compute", "config"]) | st.text(
    st.sampled_from("abcdegilnorstw-0123456789"), min_size=1, max_size=14).filter(lambda s: not s.startswith("-"))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(GCLOUD_GROUP_PATHS), st.sampled_from(GCLOUD_CHANGES),
       st.lists(READ_LOOKING_NAMES, min_size=0, max_size=3),
       st.sampled_from([[], ["--zone", "z"], ["--quiet"], ["--format=json"]]),
       st.sampled_from([[], ["--project", "p"], ["--quiet"]]))
def test_a_gcloud_change_is_never_a_read_whatever_its_resource_is_named(groups, verb, names, flags, globals_):
    argv = ["gcloud", *globals_, *groups, verb, *names, *flags]
    assert only(interpret_argv(argv)).verb is Verb.EXEC, argv


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["compute", "instances", "beta", "list", "describe", "stop", "run", "services",
                                 "config", "get", "set", "routes", "diagnose", "get-iam-policy", "x"]),
                min_size=1, max_size=6))
def test_gcloud_reads_need_a_read_command_right_after_known_groups(words):
    """Whatever the words, a read means: no changing verb came before the read command."""
    op = only(interpret_argv(["gcloud", *words]))
    if op.verb is Verb.READ:
        first_not_group = next(w for w in words if w not in ("compute", "instances", "beta", "run", "services",
                                                             "config", "routes"))
        assert first_not_group in ("list", "describe", "get", "get-iam-policy"), words


def _gcloud_surface():
    import os
    root = "/usr/lib/google-cloud-sdk/lib/surface"
    if not os.path.isdir(root):
        import shutil
        gcloud = shutil.which("gcloud")
        root = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(gcloud))), "lib", "surface") \
            if gcloud else ""
    if not root or not os.path.isdir(root):
        pytest.skip("Google Cloud SDK not installed")
    groups, commands = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith("_")]
        parent = os.path.relpath(dirpath, root).replace("_", "-")
        for d in dirnames:
            groups.setdefault(d.replace("_", "-"), set()).add(parent)
        for f in filenames:
            stem, ext = os.path.splitext(f)
            if ext in (".py", ".yaml") and not stem.startswith("_"):
                commands.setdefault(stem.replace("_", "-"), set()).add(parent)
    return groups, commands


def test_gcloud_vocabulary_matches_the_sdk_command_tree():
    """The walk is sound only if a listed group word never names a command below the top level,
    a top group is one, and a read command word never names a group (hidden ones included)."""
    from blastwall.core.interpret import argv as module
    groups, commands = _gcloud_surface()
    assert {w for w in module._GCLOUD_TOP_GROUPS | module._GCLOUD_TRACKS if "." not in groups.get(w, ())} == set()
    assert {w: commands[w] for w in module._GCLOUD_GROUPS if commands.get(w, set()) - {"."}} == {}
    assert {w for w in module._GCLOUD_GROUPS if w not in groups} == set()
    assert {w for w in module._GCLOUD_READS if w in groups or w not in commands} == set()
    for parent, child in module._GCLOUD_GROUPS_UNDER:      # under every group so named, a group
        parents = {parent if p == "." else f"{p}/{parent}" for p in groups[parent]}
        assert not parents & commands.get(child, set()), (parent, child)
        assert parents & groups[child], (parent, child)
    for parent, child in module._GCLOUD_READS_UNDER:        # a command, and no group, of that name
        assert child not in groups and parent in commands[child], (parent, child)


# --- aws: reads that write a local file ----------------------------------------------------------

@pytest.mark.parametrize("command", [
    "aws s3api get-object --bucket b --key k /usr/local/bin/kubectl",
    "aws s3api get-object /usr/local/bin/kubectl --bucket b --key k",
    "aws s3api get-object --bucket b --key k -- /usr/local/bin/kubectl",
    "aws s3api get-object --bucket b --key k --no-cli-pager kubectl",
    "aws s3api get-object-torrent --bucket b --key k ~/.bashrc", "aws s3api get-object --bucket b --key k",
    "aws --region r s3api get-object --bucket=b --key=k .git/config",
    "aws glacier get-job-output --account-id - --vault-name v --job-id j out",
    "aws apigateway get-export --rest-api-id a --stage-name s --export-type swagger out.json",
    "aws iot-data get-thing-shadow --thing-name t out", "aws mediastore-data get-object --path p out",
    "aws newservice get-blob --id a /usr/local/bin/kubectl",          # an outfile of a call not listed yet
    "aws newservice get-blob --dry-run /usr/local/bin/kubectl", "aws newservice get-blob --debug f",
    "aws newservice describe-thing --name a --thing-outfile /tmp/x",
    "aws S3API get-object --bucket b --key k",
])
def test_aws_reads_that_write_a_local_file_are_opaque(sample_fleet, recommended, command):
    argv = command.split()
    assert "file" in assert_opaque(argv).note
    never_allowed(sample_fleet, recommended, argv)


@pytest.mark.parametrize("command", [
    "aws ec2 describe-instances --instance-ids i-1 i-2 --region us-east-1",
    "aws ec2 describe-instances --filters Name=a,Values=b Name=c,Values=d", "aws configure get region",
    "aws s3 ls s3://bucket/prefix --recursive",
    "aws s3api get-object-acl --bucket b --key k", "aws ec2 describe-instances --dry-run true",
    "aws logs describe-log-groups --max-items 5",
])
def test_aws_reads_with_values_stay_reads(command):
    assert_read(command.split())


def test_aws_head_is_no_read_word():
    assert_opaque("aws s3api head-object --bucket b --key k --debug".split())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["get-object", "get-object-torrent"]),
       st.text(st.sampled_from("abc/._-~$kubectl"), min_size=1, max_size=20).filter(lambda s: not s.startswith("-")),
       st.integers(0, 3), st.sampled_from([[], ["--region", "r"], ["--debug"], ["--no-cli-pager"]]),
       st.sampled_from([[], ["--range", "bytes=0-9"], ["--version-id", "v"], ["--"]]))
def test_any_outfile_of_s3api_get_object_is_never_a_read(action, path, at, globals_, extra):
    words = ["--bucket", "b", "--key", "k", *extra]
    words.insert(len(words) if extra == ["--"] else min(at * 2, len(words)), path)
    argv = ["aws", *globals_, "s3api", action, *words]
    assert only(interpret_argv(argv)).verb is Verb.EXEC, argv


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["describe-things", "get-thing", "list-things"]),
       st.sampled_from([["--name", "n"], ["--dry-run"], ["--ids", "a", "b"], ["--no-paginate"]]),
       st.text(st.sampled_from("abc/._kubectl"), min_size=1, max_size=12).filter(lambda s: not s.startswith("-")))
def test_an_operand_after_an_aws_read_is_taken_for_an_outfile(action, options, outfile):
    argv = ["aws", "svc", action, *options, "--region", "r", outfile]
    assert only(interpret_argv(argv)).verb is Verb.EXEC, argv


# --- git: what makes a read run a program --------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["git", "-c", "core.fsmonitor=/tmp/x", "status"], ["git", "-c", "core.pager=sh", "log"],
    ["git", "-c", "diff.external=/tmp/x", "diff"], ["git", "-c", "diff.x.textconv=sh", "log", "-p"],
    ["git", "-c", "core.sshCommand=x", "status"], ["git", "-c", "core.hooksPath=/tmp", "status"],
    ["git", "-c", "alias.st=!sh", "status"], ["git", "-c", "filter.x.clean=sh", "diff"],
    ["git", "-c", "credential.helper=!sh", "log"], ["git", "-ccore.pager=sh", "log"],
    ["git", "--config-env=core.pager=X", "log"], ["git", "--config-env", "core.pager=X", "log"],
    ["git", "--exec-path=/tmp", "status"], ["git", "--exec-path", "status"], ["git", "--git-dir=/tmp/x", "log"],
    ["git", "--work-tree=/tmp", "status"], ["git", "--no-pager", "-c", "core.fsmonitor=x", "status"],
    ["git", "-C", "repo", "-c", "core.fsmonitor=x", "status"], ["git", "--namespace=x", "log"],
    ["git", "--bare", "log"], ["git", "--super-prefix=x", "status"], ["git", "--list-cmds=main"],
    ["git", "diff", "--output=/usr/local/bin/kubectl"], ["git", "log", "-p", "--output", "f"],
    ["env", "GIT_CONFIG_GLOBAL=/tmp/x", "git", "status"], ["env", "XDG_CONFIG_HOME=/tmp/x", "git", "diff"],
    ["env", "GIT_EXTERNAL_DIFF=sh", "git", "diff"],
])
def test_git_options_and_variables_that_choose_programs_are_opaque(argv):
    assert_opaque(argv)


@pytest.mark.parametrize("command", [
    "XDG_CONFIG_HOME=/tmp/x git diff", "export XDG_CONFIG_HOME=/tmp/x; git status",
    "CLOUDSDK_PYTHON=/tmp/x gcloud compute instances list",
    "CLOUDSDK_PYTHON_ARGS='-m evil' gcloud compute instances list",
    "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE=https://x/ gcloud compute instances list",
    "AWS_DATA_PATH=/tmp/models aws lambda get-function-url-config --function-name f",
    "AZURE_EXTENSION_DIR=/tmp/x az vm list",
    "KUBERC=/tmp/k.yaml kubectl get secrets --context prod-us-east-1",      # its defaults: -o yaml
    "export KUBERC=/tmp/k.yaml; kubectl get pods",
])
def test_variables_that_choose_config_or_code_are_not_reads(command):
    from blastwall.core.interpret.shell import interpret_shell
    ops = interpret_shell(command)
    assert any(op.verb is Verb.EXEC for op in ops), ops


@pytest.mark.parametrize("key", ["core.fsmonitor", "core.pager", "diff.external", "diff.x.textconv",
                                 "core.sshCommand", "core.hooksPath", "alias.st", "filter.lfs.smudge",
                                 "credential.helper", "pager.log", "core.editor", "gpg.program",
                                 "sequence.editor", "uploadpack.packObjectsHook", "core.gitProxy"])
@pytest.mark.parametrize("sub", [["status"], ["diff"], ["log", "-p"], ["show"], ["branch"]])
def test_git_dash_c_is_opaque_for_any_key(key, sub):
    assert_opaque(["git", "-c", f"{key}=/tmp/x", *sub])
    assert_opaque(["git", "--config-env", f"{key}=ENV", *sub])


# --- az: a read word is the whole command word -----------------------------------------------

@pytest.mark.parametrize("command", ["az config set list=1", "az find listing", "az config unset get-x.y",
                                     "az vm stop getaway"])
def test_az_words_that_only_start_like_reads_are_not_reads(command):
    assert_opaque(command.split())


@pytest.mark.parametrize("command", ["az vm list", "az account list-locations", "az aks get-versions -l x",
                                     "az vm get-instance-view -n v -g g", "az group show -n rg"])
def test_az_reads_stay_reads(command):
    assert_read(command.split())
