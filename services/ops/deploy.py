"""`oppsuite deploy`: check what a Kubernetes overlay needs, create what is missing when
asked, apply the overlay and wait for every rollout.

What the overlay needs is read from the overlay itself (rendered with ``kubectl
kustomize``), never from flags that could disagree with it: the DynamoDB table and the SNS
topic named in its configuration, the IAM roles annotated on its service accounts, the
namespace its Deployments land in. Checks only read; nothing changes unless
``--create-missing`` is given, and nothing at all with ``--dry-run``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import yaml

__all__ = [
    "AwsChecker",
    "AwsTargets",
    "Check",
    "DeployOptions",
    "Kubectl",
    "KubectlError",
    "run",
    "targets_from",
]

Status = Literal["ok", "created", "would create", "missing", "failed", "skipped"]
_BLOCKING: frozenset[str] = frozenset({"missing", "failed"})
TABLE_KEY = "pk"  # the cache's DynamoDB item key (services/cache/dynamo_tier.py)
TTL_ATTRIBUTE = "ttl"  # the cache's TTL attribute
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
TOPIC_SETTING = "PERFORMANCE_ALERTS_TOPIC_ARN"
TABLE_SETTING = "CACHE_DYNAMODB_TABLE"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str

    @property
    def blocking(self) -> bool:
        return self.status in _BLOCKING


@dataclass(frozen=True)
class DeployOptions:
    overlay_dir: Path
    context: str | None = None  # kubectl context; None = the current one
    create_missing: bool = False
    dry_run: bool = False
    oidc_provider: str | None = None  # e.g. oidc.eks.us-east-1.amazonaws.com/id/ABC
    region: str | None = None  # overrides the overlay's AWS_REGION
    rollout_timeout_s: float = 300.0
    aws_timeout_s: float = 10.0
    kubectl_timeout_s: float = 30.0


@dataclass(frozen=True)
class AwsTargets:
    """What the rendered overlay expects to find in AWS."""

    namespace: str
    region: str | None
    table: str | None
    topic_arn: str | None
    roles: Mapping[str, str] = field(default_factory=dict)  # service account -> role ARN

    @property
    def uses_aws(self) -> bool:
        return bool(self.table or self.topic_arn or self.roles)


def targets_from(docs: Sequence[Mapping[str, Any]]) -> AwsTargets:
    config: dict[str, str] = {}
    namespace = "default"
    roles: dict[str, str] = {}
    for doc in docs:
        kind, meta = doc.get("kind"), doc.get("metadata") or {}
        if kind == "ConfigMap" and str(meta.get("name", "")).startswith("oppsuite-config"):
            config.update(doc.get("data") or {})
        elif kind == "Deployment":
            namespace = str(meta.get("namespace") or namespace)
        elif kind == "ServiceAccount":
            arn = (meta.get("annotations") or {}).get(ROLE_ANNOTATION)
            if arn:
                roles[str(meta["name"])] = str(arn)
    dynamo_on = config.get("CACHE_DYNAMODB_ENABLED", "true").lower() in {"1", "true", "yes", "on"}
    return AwsTargets(
        namespace=namespace,
        region=config.get("AWS_REGION") or config.get("AWS_DEFAULT_REGION"),
        table=config.get(TABLE_SETTING) if dynamo_on else None,
        topic_arn=config.get(TOPIC_SETTING) or None,
        roles=roles,
    )


class KubectlError(RuntimeError):
    """kubectl is missing, failed, or did not answer in time; the message says which."""


class Kubectl:
    def __init__(self, context: str | None, timeout_s: float) -> None:
        binary = shutil.which("kubectl")
        if binary is None:
            raise KubectlError("kubectl is not installed or not on PATH")
        self._binary = binary
        self._context = context
        self._timeout_s = timeout_s

    def base_args(self) -> list[str]:
        return [self._binary, *(["--context", self._context] if self._context else [])]

    def _run(self, args: Sequence[str], timeout_s: float | None = None) -> str:
        timeout = timeout_s or self._timeout_s
        try:
            done = subprocess.run(
                [*self.base_args(), *args], capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise KubectlError(
                f"kubectl {' '.join(args)} gave no answer in {timeout:.0f} s"
            ) from None
        if done.returncode != 0:
            message = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
            raise KubectlError(f"kubectl {' '.join(args)}: {message[0]}")
        return done.stdout

    def current_context(self) -> str:
        if self._context:
            return self._context
        return self._run(["config", "current-context"]).strip()

    def server_version(self) -> str:
        out = self._run(["version", "-o", "json", f"--request-timeout={self._timeout_s:.0f}s"])
        try:
            info = json.loads(out).get("serverVersion") or {}
        except (ValueError, AttributeError):
            raise KubectlError(f"kubectl version printed no JSON: {out[:200]!r}") from None
        return str(info.get("gitVersion", "unknown"))

    def render(self, overlay_dir: Path) -> list[dict[str, Any]]:
        out = self._run(["kustomize", str(overlay_dir)])
        try:
            return [doc for doc in yaml.safe_load_all(out) if doc]
        except yaml.YAMLError as exc:
            raise KubectlError(f"kubectl kustomize printed invalid YAML: {exc}") from None

    def has_secret(self, namespace: str, name: str) -> bool:
        try:
            self._run(["get", "secret", name, "-n", namespace, "-o", "name"])
        except KubectlError as exc:
            if "NotFound" in str(exc) or "not found" in str(exc):
                return False
            raise
        return True

    def apply_args(self, overlay_dir: Path) -> list[str]:
        return ["apply", "-k", str(overlay_dir)]

    def rollout_args(self, namespace: str, deployment: str, timeout_s: float) -> list[str]:
        return [
            "rollout",
            "status",
            f"deployment/{deployment}",
            "-n",
            namespace,
            f"--timeout={timeout_s:.0f}s",
        ]

    def apply(self, overlay_dir: Path) -> str:
        return self._run(self.apply_args(overlay_dir), timeout_s=max(self._timeout_s, 120))

    def rollout(self, namespace: str, deployment: str, timeout_s: float) -> str:
        return self._run(self.rollout_args(namespace, deployment, timeout_s), timeout_s + 10)


class AwsChecker:
    """Read-only checks of the AWS prerequisites, and their creation when asked."""

    def __init__(self, region: str | None, timeout_s: float) -> None:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"mode": "standard", "max_attempts": 3},
        )
        session = boto3.session.Session(region_name=region)
        self._dynamodb = session.client("dynamodb", config=config)
        self._sns = session.client("sns", config=config)
        self._iam = session.client("iam", config=config)

    # -- DynamoDB ----------------------------------------------------------------------

    def table(self, name: str, create: bool) -> Check:
        label = f"DynamoDB table {name}"
        try:
            described = self._dynamodb.describe_table(TableName=name)["Table"]
        except Exception as exc:
            if _code(exc) != "ResourceNotFoundException":
                return Check(label, "failed", _explain(exc))
            if not create:
                return Check(label, "missing", "create it, or run with --create-missing")
            return self._create_table(label, name)
        keys = [k["AttributeName"] for k in described.get("KeySchema", [])]
        if keys != [TABLE_KEY]:
            return Check(label, "failed", f"key schema is {keys}, the cache needs [{TABLE_KEY!r}]")
        return self._ttl(label, name, create)

    def _create_table(self, label: str, name: str) -> Check:
        try:
            self._dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": TABLE_KEY, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": TABLE_KEY, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            self._dynamodb.get_waiter("table_exists").wait(
                TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
        except Exception as exc:
            return Check(label, "failed", f"creating it: {_explain(exc)}")
        ttl = self._ttl(label, name, create=True)
        if ttl.blocking:
            return ttl
        return Check(label, "created", f"on-demand, key {TABLE_KEY}, TTL on {TTL_ATTRIBUTE!r}")

    def _ttl(self, label: str, name: str, create: bool) -> Check:
        try:
            ttl = self._dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        except Exception as exc:
            return Check(label, "failed", f"reading its TTL: {_explain(exc)}")
        enabled = ttl.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"}
        if enabled and ttl.get("AttributeName") == TTL_ATTRIBUTE:
            return Check(label, "ok", f"exists, TTL on {TTL_ATTRIBUTE!r}")
        if enabled:
            return Check(label, "failed", f"TTL is on {ttl.get('AttributeName')!r}, not 'ttl'")
        if not create:
            return Check(label, "missing", "TTL is off: run with --create-missing to turn it on")
        try:
            self._dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
            )
        except Exception as exc:
            return Check(label, "failed", f"turning TTL on: {_explain(exc)}")
        return Check(label, "created", f"TTL turned on ({TTL_ATTRIBUTE!r})")

    # -- SNS ---------------------------------------------------------------------------

    def topic(self, arn: str, create: bool) -> Check:
        label = f"SNS topic {arn.rsplit(':', 1)[-1]}"
        try:
            self._sns.get_topic_attributes(TopicArn=arn)
            return Check(label, "ok", "exists")
        except Exception as exc:
            if _code(exc) != "NotFound":
                return Check(label, "failed", _explain(exc))
        if not create:
            return Check(label, "missing", "create it, or run with --create-missing")
        try:
            created = self._sns.create_topic(Name=arn.rsplit(":", 1)[-1])["TopicArn"]
        except Exception as exc:
            return Check(label, "failed", f"creating it: {_explain(exc)}")
        if created != arn:
            return Check(label, "failed", f"created {created}, but the overlay names {arn}")
        return Check(label, "created", created)

    # -- IAM (IRSA) --------------------------------------------------------------------

    def role(
        self, account: str, arn: str, namespace: str, oidc_provider: str | None, create: bool
    ) -> Check:
        name = arn.rsplit("/", 1)[-1]
        label = f"IAM role {name} (service account {account})"
        try:
            role = self._iam.get_role(RoleName=name)["Role"]
        except Exception as exc:
            if _code(exc) != "NoSuchEntity":
                return Check(label, "failed", _explain(exc))
            if not create:
                return Check(label, "missing", "create it, or run with --create-missing")
            if not oidc_provider:
                return Check(label, "missing", "creating it needs --oidc-provider (the cluster's)")
            return self._create_role(label, account, arn, namespace, oidc_provider)
        if role["Arn"] != arn:
            return Check(label, "failed", f"exists as {role['Arn']}, annotation says {arn}")
        trust = json.dumps(role.get("AssumeRolePolicyDocument", {}))
        subject = f"system:serviceaccount:{namespace}:{account}"
        if subject not in trust:
            return Check(label, "failed", f"its trust policy does not name {subject}")
        return Check(label, "ok", "exists, trusted by the service account")

    def _create_role(
        self, label: str, account: str, arn: str, namespace: str, oidc_provider: str
    ) -> Check:
        account_id = arn.split(":")[4]
        issuer = oidc_provider.removeprefix("https://")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{account_id}:oidc-provider/{issuer}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{account}",
                            f"{issuer}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
        name = arn.rsplit("/", 1)[-1]
        try:
            self._iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=f"oppsuite {account} (IRSA)",
            )
        except Exception as exc:
            return Check(label, "failed", f"creating it: {_explain(exc)}")
        return Check(label, "created", "trust policy for the service account; attach permissions")


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _explain(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


# -- the command ---------------------------------------------------------------------------


def _cluster_checks(kubectl: Kubectl) -> list[Check]:
    try:
        context = kubectl.current_context()
    except KubectlError as exc:
        return [Check("kubectl context", "failed", str(exc))]
    checks = [Check("kubectl context", "ok", context)]
    try:
        checks.append(Check("cluster", "ok", f"answers, Kubernetes {kubectl.server_version()}"))
    except KubectlError as exc:
        checks.append(Check("cluster", "failed", str(exc)))
    return checks


def _aws_checks(
    targets: AwsTargets, options: DeployOptions, *, create_allowed: bool
) -> list[Check]:
    if not targets.uses_aws:
        return [Check("AWS prerequisites", "skipped", "this overlay uses no AWS resources")]
    create = options.create_missing and not options.dry_run and create_allowed
    try:
        aws = AwsChecker(options.region or targets.region, options.aws_timeout_s)
    except Exception as exc:
        return [Check("AWS clients", "failed", _explain(exc))]
    checks: list[Check] = []
    if targets.table:
        checks.append(aws.table(targets.table, create))
    if targets.topic_arn:
        checks.append(aws.topic(targets.topic_arn, create))
    for account, arn in sorted(targets.roles.items()):
        checks.append(aws.role(account, arn, targets.namespace, options.oidc_provider, create))
    if options.dry_run and options.create_missing:
        checks = [
            Check(c.name, "would create", c.detail) if c.status == "missing" else c for c in checks
        ]
    return checks


def _secret_check(kubectl: Kubectl, docs: Sequence[Mapping[str, Any]], namespace: str) -> Check:
    label = "Secret gateway-api-keys"
    generated = any(
        d.get("kind") == "Secret"
        and str(d.get("metadata", {}).get("name", "")).startswith("gateway-api-keys")
        for d in docs
    )
    if generated:
        return Check(label, "ok", "generated by the overlay")
    try:
        if kubectl.has_secret(namespace, "gateway-api-keys"):
            return Check(label, "ok", f"exists in {namespace}")
    except KubectlError as exc:
        return Check(label, "failed", str(exc))
    return Check(label, "missing", f"create it in {namespace} with key api-keys (client=key,...)")


def _print_checks(checks: Sequence[Check], out: TextIO) -> None:
    width = max((len(c.name) for c in checks), default=10)
    for c in checks:
        print(f"  {c.status.upper():<12} {c.name:<{width}}  {c.detail}", file=out)


def run(options: DeployOptions, out: TextIO) -> int:
    """Returns the exit code; every problem is printed, none raised."""
    mode = " (dry run: nothing is changed)" if options.dry_run else ""
    print(f"oppsuite deploy {options.overlay_dir}{mode}", file=out)
    try:
        kubectl = Kubectl(options.context, options.kubectl_timeout_s)
        docs = kubectl.render(options.overlay_dir)
    except KubectlError as exc:
        print(f"  FAILED       render  {exc}", file=out)
        return 1
    targets = targets_from(docs)
    deployments = [d["metadata"]["name"] for d in docs if d.get("kind") == "Deployment"]
    print(f"\nchecks (namespace {targets.namespace}):", file=out)
    checks = _cluster_checks(kubectl)
    if not any(c.blocking for c in checks):
        checks.append(_secret_check(kubectl, docs, targets.namespace))
    # Nothing is created in AWS for a cluster we cannot deploy to.
    cluster_ok = not any(c.blocking for c in checks)
    checks.extend(_aws_checks(targets, options, create_allowed=cluster_ok))
    _print_checks(checks, out)
    blocking = [c for c in checks if c.blocking]

    apply = " ".join(kubectl.base_args()[1:] + kubectl.apply_args(options.overlay_dir))
    waits = [
        " ".join(
            kubectl.base_args()[1:]
            + kubectl.rollout_args(targets.namespace, d, options.rollout_timeout_s)
        )
        for d in deployments
    ]
    if options.dry_run:
        print("\nwould run:", file=out)
        for command in (apply, *waits):
            print(f"  kubectl {command}", file=out)
        if blocking:
            print(f"\n{len(blocking)} check(s) would stop the deploy.", file=out)
        return 1 if blocking else 0
    if blocking:
        print(f"\nnot applied: {len(blocking)} check(s) failed or missing.", file=out)
        return 1
    print(f"\napplying: kubectl {apply}", file=out)
    try:
        for line in kubectl.apply(options.overlay_dir).splitlines():
            print(f"  {line}", file=out)
        for deployment in deployments:
            kubectl.rollout(targets.namespace, deployment, options.rollout_timeout_s)
            print(f"  rolled out: deployment/{deployment}", file=out)
    except KubectlError as exc:
        print(f"  FAILED {exc}", file=out)
        return 1
    print("deployed.", file=out)
    return 0
