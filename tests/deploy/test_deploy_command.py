"""`oppsuite deploy`: the AWS prerequisite checks against moto (a real AWS API on loopback),
and what the command prints and refuses without a reachable cluster."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest

from services.ops.deploy import AwsChecker, DeployOptions, run, targets_from
from tests.conftest import MotoServer, free_port
from tests.deploy.k8s import render_combination

ARN = "arn:aws:iam::123456789012:role/oppsuite-cache"  # moto's account id
OIDC = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123456789"


@pytest.fixture
def aws(aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    aws_env.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env.endpoint)
    return aws_env


@pytest.fixture
def unreachable_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kubeconfig whose API server address refuses connections."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{free_port()}"}}],
        "users": [{"name": "u", "user": {"token": "not-a-token"}}],
        "contexts": [{"name": "test-context", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "test-context",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    return "test-context"


@pytest.fixture
def aws_overlay(tmp_path: Path) -> Path:
    """The base with the aws component: what prod asks of AWS, without needing its CRDs."""
    render_combination(tmp_path / "overlay", ["aws"])
    return tmp_path / "overlay"


def checker() -> AwsChecker:
    return AwsChecker("us-east-1", timeout_s=5)


def test_targets_come_from_the_rendered_overlay(tmp_path: Path) -> None:
    targets = targets_from(render_combination(tmp_path, ["aws"]))
    assert targets.namespace == "oppsuite-test"
    assert targets.table == "oppsuite-cache"
    assert targets.topic_arn == "arn:aws:sns:us-east-1:123456789012:oppsuite-alerts"
    assert set(targets.roles) == {"cache", "analysis", "monitor"}
    assert not targets_from(render_combination(tmp_path / "dev", ["redis-dev"])).uses_aws


def test_table_is_reported_missing_then_created_with_ttl(aws: MotoServer) -> None:
    missing = checker().table("oppsuite-cache", create=False)
    assert (missing.status, missing.detail) == (
        "missing",
        "create it, or run with --create-missing",
    )
    assert checker().table("oppsuite-cache", create=True).status == "created"
    client = boto3.client("dynamodb", region_name="us-east-1")
    ttl = client.describe_time_to_live(TableName="oppsuite-cache")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")
    key = client.describe_table(TableName="oppsuite-cache")["Table"]["KeySchema"]
    assert key == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert checker().table("oppsuite-cache", create=False).status == "ok"


def test_table_without_ttl_or_with_a_wrong_key_is_caught(aws: MotoServer) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    for name, key in (("no-ttl", "pk"), ("wrong-key", "id")):
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    no_ttl = checker().table("no-ttl", create=False)
    assert no_ttl.status == "missing" and "TTL is off" in no_ttl.detail
    assert checker().table("no-ttl", create=True).status == "created"
    assert checker().table("no-ttl", create=False).status == "ok"
    wrong = checker().table("wrong-key", create=True)
    assert wrong.status == "failed" and "['id']" in wrong.detail


def test_topic_is_created_under_the_configured_arn(aws: MotoServer) -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:oppsuite-alerts"
    assert checker().topic(arn, create=False).status == "missing"
    created = checker().topic(arn, create=True)
    assert (created.status, created.detail) == ("created", arn)
    assert checker().topic(arn, create=False).status == "ok"
    other_account = checker().topic("arn:aws:sns:us-east-1:999999999999:elsewhere", create=True)
    assert other_account.status == "failed" and "overlay names" in other_account.detail


def test_role_needs_the_oidc_provider_to_be_created_and_must_trust_the_account(
    aws: MotoServer,
) -> None:
    assert checker().role("cache", ARN, "oppsuite", None, create=False).status == "missing"
    no_oidc = checker().role("cache", ARN, "oppsuite", None, create=True)
    assert no_oidc.status == "missing" and "--oidc-provider" in no_oidc.detail
    assert checker().role("cache", ARN, "oppsuite", OIDC, create=True).status == "created"
    assert checker().role("cache", ARN, "oppsuite", None, create=False).status == "ok"
    trust = boto3.client("iam").get_role(RoleName="oppsuite-cache")["Role"]
    condition = json.dumps(trust["AssumeRolePolicyDocument"])
    assert "system:serviceaccount:oppsuite:cache" in condition and OIDC in condition
    elsewhere = checker().role("cache", ARN, "other-namespace", None, create=False)
    assert elsewhere.status == "failed" and "trust policy" in elsewhere.detail


def test_unreachable_aws_is_a_failed_check_not_a_traceback(
    aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    check = AwsChecker("us-east-1", timeout_s=1).table("oppsuite-cache", create=True)
    assert check.status == "failed" and "EndpointConnectionError" in check.detail


def test_dry_run_prints_the_plan_and_changes_nothing(
    aws: MotoServer, aws_overlay: Path, unreachable_cluster: str
) -> None:
    out = io.StringIO()
    code = run(DeployOptions(aws_overlay, create_missing=True, dry_run=True), out)
    text = out.getvalue()
    assert code == 1  # the cluster does not answer
    assert "(dry run: nothing is changed)" in text
    assert "OK           kubectl context" in text and "test-context" in text
    assert "FAILED       cluster" in text
    assert "WOULD CREATE DynamoDB table oppsuite-cache" in text
    assert "WOULD CREATE SNS topic oppsuite-alerts" in text
    assert f"kubectl apply -k {aws_overlay}" in text
    for deployment in ("gateway", "cache", "analysis", "monitor"):
        assert (
            f"kubectl rollout status deployment/{deployment} -n oppsuite-test --timeout=300s"
            in text
        )
    tables = boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"]
    assert tables == []


def test_without_a_cluster_nothing_is_created_or_applied(
    aws: MotoServer, aws_overlay: Path, unreachable_cluster: str
) -> None:
    out = io.StringIO()
    code = run(DeployOptions(aws_overlay, create_missing=True, kubectl_timeout_s=5), out)
    assert code == 1
    assert "not applied" in out.getvalue()
    assert "applying" not in out.getvalue()
    tables = boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"]
    assert tables == []


def test_an_overlay_that_does_not_render_is_reported(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    out = io.StringIO()
    assert run(DeployOptions(tmp_path, dry_run=True), out) == 1
    assert "FAILED       render" in out.getvalue()
    assert "Traceback" not in out.getvalue()


def test_cli_registers_deploy_and_runs_a_dry_run(
    unreachable_cluster: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from services.ops.cli import register

    parser = argparse.ArgumentParser(prog="oppsuite")
    register(parser.add_subparsers(required=True))
    args = parser.parse_args(["deploy", "dev", "--dry-run"])
    code = args.func(args)
    out = capsys.readouterr().out
    assert code == 1  # the cluster does not answer
    assert "deploy/k8s/overlays/dev (dry run: nothing is changed)" in out
    assert "SKIPPED      AWS prerequisites  this overlay uses no AWS resources" in out
    assert "kubectl rollout status deployment/redis -n oppsuite-dev" in out
    staging = parser.parse_args(["deploy", "staging"])
    with pytest.raises(SystemExit, match="no overlay 'staging'"):
        staging.func(staging)
