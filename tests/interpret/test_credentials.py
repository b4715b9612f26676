"""Reads that would show the agent a credential are opaque, whoever prints it and however it is spelt."""
import shlex

import pytest
from hypothesis import given, settings, strategies as st

from blastwall.core.interpret.argv import interpret_argv
from blastwall.core.interpret.credentials import credential_path, holds_credentials, is_secret_variable
from blastwall.core.interpret.kubectl import interpret_kubectl
from blastwall.core.interpret.shell import interpret_shell
from blastwall.core.model import Verb

from tests.interpret.credential_spellings import credential_argvs, credential_commands, secret_variable_commands

CTX = "prod-us-east-1"


def exposes(op) -> bool:
    return op.verb is Verb.EXEC and op.target.startswith("<opaque: ") and "credentials" in op.note


def assert_exposes(argv):
    ops = interpret_argv(argv)
    assert len(ops) == 1 and exposes(ops[0]), ops
    return ops[0]


def assert_shell_exposes(command):
    ops = interpret_shell(command)
    assert any(exposes(op) for op in ops), ops
    return ops


def assert_all_read(command):
    ops = interpret_shell(command)
    assert ops and all(op.verb is Verb.READ for op in ops), ops


# --- credential files ----------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    "cat ~/.aws/credentials", "head /proc/self/environ", "cat /proc/1/environ", "less ~/.kube/config",
    "cat ~/.ssh/id_rsa", "cat .env", "cat ~/.config/gcloud/credentials.db", "cat ~/.docker/config.json",
    "cat ~/.azure/accessTokens.json", "grep -r secret ~/.aws", "base64 ~/.ssh/id_ed25519",
    "cp ~/.aws/credentials /tmp/x", "tail -f /root/.aws/config", "more /home/bob/.netrc",
    "jq . /Users/alice/.docker/config.json", "diff ./.env .env.example", "cat ../.aws/credentials",
    "cat //root//.aws///credentials", "cat /tmp/../root/.aws/credentials", "cat ~/.aws/./credentials",
    "cat ~/.aws/*", "cat ~/.ssh/id_*", "cat /proc/*/environ", "cat /proc/thread-self/environ",
    "cat /proc/1/task/1/environ", "cat /proc/1/root/root/.aws/credentials", "cat ~/.AWS/Credentials",
    "grep -f ~/.git-credentials README.md", "grep --file=.env README.md", "git diff --no-index /dev/null .env",
    "git show HEAD:.env", "cat /var/run/secrets/kubernetes.io/serviceaccount/token", "cat terraform.tfstate",
    "cat .env.production", "wc -c ~/.pgpass", "sort ~/.vault-token", "file ~/.ssh/id_ecdsa", "cd ~/.aws",
    "date -f ~/.aws/credentials", "xxd ~/.ssh/id_rsa", "od -c .env", "strings ~/.kube/config",
    "tar czf /tmp/x.tgz ~/.ssh", "sudo cat /root/.aws/credentials", "env -C /root/.aws cat credentials",
    "timeout 5 nice cat ~/.kube/config", "cat /etc/shadow", "cat ~/.config/gh/hosts.yml",
])
def test_reading_a_credential_file_is_opaque(command):
    op = assert_exposes(shlex.split(command))
    assert "reads credentials" in op.note


@pytest.mark.parametrize("command", [
    "grep -r password ~", "grep -R token /", "grep -rn x /root", "grep -d recurse x /home",
    "grep --recursive x /home/bob", "diff -r / /tmp", "grep -r x $HOME", "egrep -r x /proc",
    "grep -r x /proc/1/root/root", "grep -r x /proc/self/root", "grep -r x /proc/self",
    "grep -r x /proc/1/task/1/root/home/bob", "grep -r x /proc/*/root/etc",
])
def test_searching_a_tree_that_holds_credentials_is_opaque(command):
    assert "searches all of" in assert_exposes(shlex.split(command)).note


@pytest.mark.parametrize("command", [
    "cat README.md", "cat ~/.ssh/id_rsa.pub", "cat ~/.ssh/known_hosts", "cat ~/.ssh/config",
    "cat .env.example", "cat docs/credentials.md", "grep -r x .", "grep -r TODO src", "cat /proc/cpuinfo",
    "cat /proc/self/status", "cat /etc/hosts", "cat ~/project/main.py", "ls -la ~/.ssh", "ls ~/.aws",
    "test -f ~/.aws/credentials", "stat ~/.kube/config", "echo ~/.aws/credentials", "realpath .env",
    "printenv HOME", "printenv PATH KUBECTL_CONTEXT", "grep -r x /home/bob/project", "cat *.md",
])
def test_harmless_reads_stay_reads(command):
    ops = interpret_argv(shlex.split(command))
    assert [op.verb for op in ops] == [Verb.READ], ops


def test_destructive_and_remote_commands_keep_their_own_reason():
    assert interpret_argv(["rm", "-rf", "/root/.aws"])[0].destructive
    assert "another machine" in interpret_argv(["scp", "/root/.aws/credentials", "h:"])[0].note


# --- the environment -------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["env"], ["env", "-0"], ["printenv"], ["printenv", "-0"], ["set"],
                                  ["export"], ["sudo", "env"], ["printenv", "AWS_SECRET_ACCESS_KEY"],
                                  ["printenv", "HOME", "GITHUB_TOKEN"]])
def test_printing_the_environment_or_a_secret_variable_is_opaque(argv):
    assert_exposes(argv)


@pytest.mark.parametrize("command", [
    'echo "$AWS_SECRET_ACCESS_KEY"', "echo ${GITHUB_TOKEN}", "printf '%s' $VAULT_TOKEN", "cat $KUBECONFIG",
    'cat "$GOOGLE_APPLICATION_CREDENTIALS"', "X=$DB_PASSWORD; echo done", "cat <<< $ARM_CLIENT_SECRET",
    "env | grep AWS", "printenv | sort", "set | grep -i key", "printenv $NAME",
])
def test_secret_variables_in_shell_strings_are_opaque(command):
    ops = interpret_shell(command)
    assert any(op.verb is Verb.EXEC for op in ops) and not all(op.verb is Verb.READ for op in ops), ops


def test_secret_variable_names():
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GITHUB_TOKEN", "DB_PASSWORD", "KUBECONFIG",
                 "OPENAI_API_KEY", "STRIPE_KEY", "DATABASE_URL", "GOOGLE_APPLICATION_CREDENTIALS"):
        assert is_secret_variable(name), name
    for name in ("HOME", "PATH", "USER", "AWS_REGION", "AWS_PROFILE", "MONKEY", "TF_VAR_region", "LANG"):
        assert not is_secret_variable(name), name


# --- shell-only spellings ----------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    'cat "$HOME/.aws/credentials"', "cat ${HOME}/.aws/credentials", "cat ~/.aws/cred'ent'ials",
    "cat ~/.aws/cred\\entials", 'cat ~/".aws"/cred*', "cat ~/.{aws,kube}/config", "cat ~/.a*/c*",
    "cat < ~/.aws/credentials", "F=~/.aws/credentials; cat $F", "D=.aws; cat ~/$D/credentials",
    "for f in ~/.ssh/*; do cat \"$f\"; done", "while read -r l; do echo $l; done < .env",
    "cd ~/.aws && cat credentials", "cd /proc/self && cat environ", "bash -c 'cat ~/.ssh/id_rsa'",
    "sudo sh -c 'head -c 100 /proc/1/environ'", "diff <(cat .env) /dev/null", "echo $(cat ~/.netrc)",
    "cat /proc/$$/environ", "cat ~root/.ssh/id_rsa", "ls && cat .env | base64",
])
def test_shell_spellings_of_credential_files_are_opaque(command):
    assert_shell_exposes(command)


def test_path_matching_follows_bash_globbing():
    assert credential_path("~/.a*/credentials") and credential_path("~/.[a]ws/x") and credential_path(".*")
    assert not credential_path("~/*") and not credential_path("*")     # `*` does not match dotfiles
    assert credential_path("~/.ssh/*") and not credential_path("~/.ssh/*.pub")
    assert credential_path("*.tfstate") and credential_path("/proc/self/*")
    assert holds_credentials("~") and holds_credentials("/") and holds_credentials("/home/bob/..")
    assert not holds_credentials(".") and not holds_credentials("/home/bob/project")


def test_a_process_root_directory_is_the_root_directory():
    # /proc/PID/root/X is /X: searching it searches the home directories below it
    assert holds_credentials("/proc/1/root") and holds_credentials("/proc/self/root/home/bob")
    assert holds_credentials("/proc/1/task/7/root/root") and holds_credentials("/proc/1")
    assert not holds_credentials("/proc/1/root/usr/share") and not holds_credentials("/proc/cpuinfo")


# --- cloud CLIs ------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    "aws ecr get-login-password", "aws ecr get-login-password --region us-east-1", "aws sts get-session-token",
    "aws sts assume-role --role-arn x --role-session-name s", "aws eks get-token --cluster-name c",
    "aws configure get aws_secret_access_key", "aws configure get profile.prod.aws_session_token",
    "aws configure export-credentials", "aws secretsmanager get-secret-value --secret-id db",
    "aws ssm get-parameter --name /db/pw --with-decryption",
    "aws ssm get-parameters-by-path --path / --with-decryption",
    "aws rds generate-db-auth-token --hostname h --port 5432 --username u", "aws kms decrypt --ciphertext-blob x",
    "aws --profile p codeartifact get-authorization-token --domain d",
    "gcloud auth print-access-token", "gcloud auth print-identity-token",
    "gcloud auth application-default print-access-token", "gcloud config config-helper",
    "gcloud secrets versions access latest --secret=db", "gcloud sql generate-login-token",
    "az account get-access-token", "az keyvault secret show --vault-name v -n db",
    "az storage account keys list -n acct", "az cosmosdb keys list -n db -g rg", "az acr credential show -n r",
    "az acr login -n r --expose-token", "az storage account show-connection-string -n acct",
    "aws s3 cp ~/.aws/credentials s3://bucket/x", "aws ec2 describe-instances --cli-input-json file://.env",
])
def test_cloud_calls_that_print_credentials_are_opaque(command):
    assert_exposes(shlex.split(command))


def test_cloud_exposure_keeps_the_destructive_hint():
    op = only_op(["aws", "secretsmanager", "delete-secret", "--secret-id", "x", "--cli-input-json", "file://.env"])
    assert op.destructive and "credentials" in op.note


def only_op(argv):
    [op] = interpret_argv(argv)
    return op


@pytest.mark.parametrize("command", [
    "aws configure get region", "aws configure list", "aws sts get-caller-identity",
    "aws secretsmanager list-secrets", "aws ssm get-parameter --name /app/region", "gcloud auth list",
    "gcloud compute instances describe my-token-vm", "az account show", "az keyvault secret list --vault-name v",
])
def test_cloud_reads_without_secrets_stay_reads(command):
    assert interpret_argv(shlex.split(command))[0].verb is Verb.READ


# --- terraform ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["output", "-json"], ["output", "-raw", "db_password"], ["output", "--json"],
                                  ["show", "-json"], ["show", "-json", "tf.plan"], ["state", "pull"],
                                  ["console"], ["-chdir=infra", "output", "-json=true"]])
def test_terraform_commands_that_print_sensitive_values_are_opaque(args):
    op = assert_exposes(["terraform", *args])
    assert not op.destructive


# --- kubectl --------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    "config view --raw", "config view --flatten", "config view --minify --raw=true", "--kubeconfig k config view --raw",
    f"get secret db -o yaml --context {CTX}", f"get secret db -ojson -n web --context {CTX}",
    f"get secrets -A -o jsonpath={{.items[*].data}} --context {CTX}",
    f"get secret/db -o go-template={{{{.data}}}} --context {CTX}",
    f"get secret db --template={{{{.data}}}} --context {CTX}", f"get Secrets.v1. -o yaml --context {CTX}",
    f"get pods,secrets -o yaml --context {CTX}", f"get secret db -o custom-columns=P:.data.password --context {CTX}",
    "get secret db -o yaml", f"get --raw /api/v1/namespaces/web/secrets/db --context {CTX}",
    f"create token builder -n ci --context {CTX}", f"create token builder --dry-run=client --context {CTX}",
    f"apply view-last-applied secret/db --context {CTX}", f"label secret db a=b -o yaml --context {CTX}",
    f"patch secret db -p {{}} -o json --context {CTX}", f"wait secret/db --for=delete -o yaml --context {CTX}",
    f"set env deploy/web --from=secret/db --dry-run=client -o yaml --context {CTX}",
    f"set env deploy/web --list --resolve --context {CTX}", f"diff -f d.yaml --show-secrets --context {CTX}",
    f"create secret generic x --from-file=/root/.aws/credentials --context {CTX}",
    f"create configmap x --from-env-file=.env --dry-run=client -o yaml --context {CTX}",
    f"cp /root/.aws/credentials web/pod-1:/tmp/c --context {CTX}",
    f"cp web/pod-1:/var/run/secrets/kubernetes.io/serviceaccount/token ./t --context {CTX}",
    f"get -f - -o yaml --context {CTX}", f"apply -f - --dry-run=client -o yaml --context {CTX}",
])
def test_kubectl_commands_that_print_credentials_are_opaque(command):
    ops = interpret_kubectl(["kubectl", *shlex.split(command)])
    assert len(ops) == 1 and exposes(ops[0]), ops


def test_a_secret_in_a_manifest_is_found_and_delete_stays_destructive():
    files = {"s.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n",
             "d.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"}.get
    [op] = interpret_kubectl(shlex.split(f"kubectl get -f s.yaml -o yaml --context {CTX}"), files)
    assert exposes(op)
    [op] = interpret_kubectl(shlex.split(f"kubectl get -f d.yaml -o yaml --context {CTX}"), files)
    assert op.verb is Verb.READ
    [op] = interpret_kubectl(shlex.split(f"kubectl delete secret db -o yaml --context {CTX}"))
    assert exposes(op) and op.destructive


@pytest.mark.parametrize("command", [
    "config view", "config view --raw=false", "config get-contexts", f"get secrets --context {CTX}",
    f"get secret db -o name --context {CTX}", f"get secret db -o wide --context {CTX}",
    f"describe secret db --context {CTX}", f"get pods -o yaml --context {CTX}", f"get all -o json --context {CTX}",
    f"get configmap app -o yaml --context {CTX}", f"get pod credentials --context {CTX}",
])
def test_kubectl_reads_that_print_no_secret_stay_reads(command):
    ops = interpret_kubectl(["kubectl", *shlex.split(command)])
    assert ops and all(op.verb is Verb.READ for op in ops), ops


# --- properties -----------------------------------------------------------------------------------

@settings(max_examples=500, deadline=None)
@given(credential_commands())
def test_any_spelling_of_a_credential_read_is_never_only_reads(command):
    ops = interpret_shell(command)
    hidden = [op for op in ops if op.verb is Verb.EXEC and ("credentials" in op.note or "expanded" in op.note)]
    assert hidden, (command, ops)


@settings(max_examples=300, deadline=None)
@given(credential_argvs())
def test_credential_reads_given_as_argv_are_opaque(argv):
    ops = interpret_argv(argv)
    assert any(op.verb is Verb.EXEC and ("credentials" in op.note or "expanded" in op.note) for op in ops), (argv, ops)


@settings(max_examples=200, deadline=None)
@given(secret_variable_commands())
def test_expanding_a_secret_variable_is_never_only_reads(command):
    ops = interpret_shell(command)
    assert any(op.verb is Verb.EXEC and "credentials" in op.note for op in ops), (command, ops)


HARMLESS_PATHS = ["README.md", "src/app/main.py", "docs/*.md", "$HOME/project/notes.txt", "~/src/repo/Makefile",
                  ".env.example", "~/.ssh/id_rsa.pub", "/proc/cpuinfo", "/etc/hosts", "*.py", "./a/../b.txt"]
HARMLESS_READERS = ["cat {}", "head -n 3 {}", "tail {}", "grep -h x {}", "tac {}", "wc -l {}", "cut -c1-9 {}"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(HARMLESS_READERS), st.sampled_from(HARMLESS_PATHS),
       st.sampled_from(["{c}", "sudo {c}", "bash -c {q}", "{c} | sort", "timeout 5 {c}"]))
def test_ordinary_files_stay_harmless_reads(reader, path, wrapper):
    command = reader.format(path)
    assert_all_read(wrapper.format(c=command, q=shlex.quote(command)))


# --- gaps found in review -------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    "cat ~/${NOPE}.kube/config", "cat ~/${X}.ssh/deploy_key", "head $HOME/$D.aws/credentials",
    "jq -n env", "jq -n '$ENV.AWS_SECRET_ACCESS_KEY'", "yq -n 'env(AWS_SECRET_ACCESS_KEY)'",
    "yq -n 'strenv(GITHUB_TOKEN)'", "echo $DB_PASS", "echo $MYSQL_PWD", "cat ~/.claude/.credentials.json",
    "cat ~/.codex/auth.json", "cat ~/.config/containers/auth.json", "cat ~/.config/sops/age/keys.txt",
    "cat ~/.databrickscfg", "kubectl get --raw /api/v1/namespaces/payments/%73ecrets --context prod-us-east-1",
    "aws lambda get-function-configuration --function-name api", "aws ecs describe-task-definition --task-definition api",
    "az containerapp secret list --show-values -n api -g rg", "az webapp config appsettings list -n api -g rg",
])
def test_review_gaps_are_closed(command):
    assert_shell_exposes(command)


@pytest.mark.parametrize("command", [
    "jq '.spec.template.spec.containers[].env' pod.json", "echo $PWD", "cat $FILE",
    "cat docs/kubeconfig.md", "find . -name '*.tfstate'", "find . -name .env", "du -sh ~/.aws",
])
def test_their_neighbours_stay_reads(command):
    assert_all_read(command)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([".aws/credentials", ".kube/config", ".ssh/id_ed25519", ".docker/config.json"]),
       st.sampled_from(["${X}", "$X", "${X:-}", "$(true)"]), st.integers(0, 3))
def test_a_variable_can_supply_any_part_of_a_dotfile_name(path, expansion, cut):
    """``~/${X}.ssh`` and ``~/.s${X}sh`` may name ~/.ssh: an expansion matches a leading dot too."""
    head, rest = path.split("/", 1)
    spelt = head[:cut] + expansion + head[cut:]
    ops = interpret_shell(f"cat ~/{spelt}/{rest}")
    assert any(op.verb is Verb.EXEC for op in ops), (spelt, ops)


# --- cloud reads that print secrets: found in review -----------------------------------------------

AWS_SECRET_READS = [
    "aws apigateway get-api-keys --include-values", "aws apigateway get-api-key --api-key k --include-value",
    "aws apigateway get-api-keys --include", "aws appsync list-api-keys --api-id a", "aws wafv2 list-api-keys --scope REGIONAL",
    "aws glue get-connection --name db", "aws glue get-connections", "aws glue get-connection --name db --no-hide-password",
    "aws glue get-connection --name db --hide-password --no-hide-password",
    "aws glue get-connection --name db --hide-password --cli-input-json file://p.json",
    "aws ec2 describe-instance-attribute --instance-id i-1 --attribute userData",
    "aws ec2 describe-instance-attribute --instance-id i-1 --attribute=userData",
    "aws ec2 describe-instance-attribute --instance-id i-1 --attr userData",
    "aws ec2 describe-instance-attribute --instance-id i-1 --attribute userdata",
    "aws ec2 describe-instance-attribute --instance-id i-1 --cli-input-json {\"Attribute\":\"userData\"}",
    "aws ec2 describe-instance-attribute --instance-id i-1 --attribute groupSet --cli-input-yaml file://p.yaml",
    "aws ec2 describe-instance-attribute --instance-id i-1",
    "aws ec2 get-launch-template-data --instance-id i-1", "aws ec2 describe-launch-template-versions --launch-template-id l",
    "aws autoscaling describe-launch-configurations", "aws ec2 get-password-data --instance-id i-1",
    "aws secretsmanager get-secret-value --secret-id db", "aws secretsmanager batch-get-secret-value --secret-id-list a",
    "aws ssm get-parameter --name /db/pw --with-decryption", "aws ssm get-parameters --names a b --with-decryption",
    "aws ssm get-parameters-by-path --path / --recursive --with-decryption",
    "aws ssm get-parameter-history --name /db/pw --with-decryption",
    "aws ssm get-parameter --name /db/pw --with-decr", "aws ssm get-parameter --name /db/pw --w",
    "aws ssm get-parameter --name /db/pw --cli-input-json file://p.json",
    "aws lambda get-function-configuration --function-name api", "aws lambda get-function --function-name api",
    "aws iam create-access-key --user-name bob", "aws iam create-service-specific-credential --user-name b --service-name s",
    "aws sts get-session-token", "aws sts get-federation-token --name x", "aws sts assume-role-with-web-identity --role-arn r",
    "aws ecr get-authorization-token", "aws eks get-token --cluster-name c", "aws redshift get-cluster-credentials --db-user u",
    "aws cognito-idp describe-user-pool-client --user-pool-id p --client-id c",
    "aws gamelift get-instance-access --fleet-id f --instance-id i", "aws gamelift get-compute-access --fleet-id f --compute-name c",
    "aws elasticbeanstalk describe-configuration-settings --application-name a",
    "aws amplify list-apps", "aws apprunner describe-service --service-arn s",
    "aws datazone get-connection --domain-identifier d --identifier c --with-secret",
    "aws logs get-log-events --log-group-name g --log-stream-name s --unmask",
    "aws s3control get-data-access --account-id 1 --target s3://b --permission READ",
    "aws lightsail get-relational-database-master-user-password --relational-database-name d",
    "aws --region us-east-1 ssm get-parameter --name x --with-decryption",
]


@pytest.mark.parametrize("command", AWS_SECRET_READS)
def test_aws_reads_that_print_secrets_are_opaque(sample_fleet, recommended, command):
    argv = shlex.split(command)
    assert_exposes(argv)
    from tests.interpret.test_argv import never_allowed
    never_allowed(sample_fleet, recommended, argv)


@pytest.mark.parametrize("argv", [        # how the use_aws hook spells API parameters
    ["aws", "ssm", "get-parameter", "--Name", "/db/pw", "--WithDecryption", "true"],
    ["aws", "ssm", "get-parameter", "--name", "/db/pw", "--with_decryption", "true"],
    ["aws", "apigateway", "get-api-keys", "--IncludeValues", "true"],
    ["aws", "glue", "get-connection", "--Name", "db", "--HidePassword", "false"],
    ["aws", "ec2", "describe-instance-attribute", "--InstanceId", "i-1", "--Attribute", "userData"],
])
def test_api_parameter_spellings_are_recognised(argv):
    assert_exposes(argv)


@pytest.mark.parametrize("command", [
    "aws glue get-connection --name db --hide-password", "aws glue get-connections --hide-password --max-items 5",
    "aws glue get-connection --name db --hide-pass", "aws ec2 describe-instance-attribute --instance-id i-1 --attribute groupSet",
    "aws apigateway get-api-keys", "aws apigateway get-api-keys --no-include-values", "aws ssm get-parameter --name /app/region",
    "aws ssm describe-parameters", "aws ecs describe-clusters --include TAGS", "aws logs get-log-events --log-group-name g "
    "--log-stream-name s", "aws ec2 describe-instances --instance-ids i-1 i-2", "aws lambda list-functions",
])
def test_aws_neighbours_without_secrets_stay_reads(command):
    assert interpret_argv(shlex.split(command))[0].verb is Verb.READ


@pytest.mark.parametrize("command", [
    "gcloud functions describe api", "gcloud run services describe api --region r", "gcloud beta run jobs describe j",
    "gcloud redis instances get-auth-string r", "gcloud services api-keys get-key-string k",
    "gcloud domains registrations authorization-code get d", "gcloud secrets versions access latest --secret=db",
    "gcloud beta secrets versions access 1 --secret s", "gcloud auth application-default print-access-token",
    "gcloud sql generate-login-token", "gcloud compute reset-windows-password vm",
    "az signalr key list -n s -g g", "az webpubsub key show -n s -g g", "az staticwebapp secrets list -n s",
    "az communication list-key -n c -g g",
])
def test_other_cloud_secrets_are_opaque(command):
    assert_exposes(shlex.split(command))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([("ssm", "get-parameter", "--with-decryption"), ("ssm", "get-parameters", "--with-decryption"),
                        ("apigateway", "get-api-keys", "--include-values"), ("apigateway", "get-api-key", "--include-value"),
                        ("datazone", "get-connection", "--with-secret"), ("logs", "get-log-events", "--unmask")]),
       st.integers(3, 30), st.sampled_from(["", "=true"]), st.booleans())
def test_any_abbreviation_of_a_revealing_flag_reveals(call, length, value, first):
    """The aws CLI takes any unambiguous prefix of an option (`--with-decr`)."""
    service, action, flag = call
    spelt = flag[:max(3, min(length, len(flag)))] + value
    options = ["--name", "x"]
    argv = ["aws", service, action, *([spelt, *options] if first else [*options, spelt])]
    assert exposes(interpret_argv(argv)[0]), argv
