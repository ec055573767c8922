"""What kube-score and a careful reviewer check, on the rendered overlays: probes, resources,
security context, disruption budgets, network reachability, shutdown budget, scaling."""

from __future__ import annotations

import functools
import json

import pytest
import yaml

from tests.deploy.k8s import (
    GRPC_PORTS,
    K8S,
    METRICS_PORTS,
    OVERLAYS,
    ROOT,
    SERVICES,
    Doc,
    containers,
    env_of,
    labels_match,
    named,
    of_kind,
    render_dir,
)

PRESTOP_DRAIN_MARGIN_S = 5  # time left for closing adapters after the drain


@functools.cache
def _rendered(overlay: str) -> tuple[Doc, ...]:
    return tuple(render_dir(K8S / "overlays" / overlay))


@pytest.fixture(params=OVERLAYS)
def docs(request: pytest.FixtureRequest) -> list[Doc]:
    return list(_rendered(request.param))


def pod_spec(deployment: Doc) -> Doc:
    return dict(deployment["spec"]["template"]["spec"])


def pod_labels(deployment: Doc) -> dict[str, str]:
    return dict(deployment["spec"]["template"]["metadata"]["labels"])


def test_every_container_has_distinct_liveness_and_readiness_probes(docs: list[Doc]) -> None:
    for deployment in of_kind(docs, "Deployment"):
        for c in containers(deployment):
            assert "livenessProbe" in c and "readinessProbe" in c, c["name"]
            assert c["livenessProbe"] != c["readinessProbe"], c["name"]


def test_grpc_probes_ask_separate_health_names_on_the_grpc_port(docs: list[Doc]) -> None:
    for service in SERVICES:
        (c,) = containers(named(docs, "Deployment", service))
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports == {"grpc": GRPC_PORTS[service], "metrics": METRICS_PORTS[service]}
        assert c["livenessProbe"]["grpc"] == {"port": ports["grpc"], "service": "liveness"}
        assert c["readinessProbe"]["grpc"] == {"port": ports["grpc"], "service": ""}
        if "startupProbe" in c:
            assert c["startupProbe"]["grpc"]["port"] == ports["grpc"]


def test_probe_ports_are_container_ports(docs: list[Doc]) -> None:
    for deployment in of_kind(docs, "Deployment"):
        for c in containers(deployment):
            declared = {p["containerPort"] for p in c["ports"]} | {p["name"] for p in c["ports"]}
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                probe = c.get(kind)
                if probe is None:
                    continue
                handler = probe.get("grpc") or probe.get("tcpSocket") or probe.get("httpGet")
                if handler is not None:
                    assert handler["port"] in declared, (c["name"], kind)


def test_slow_starting_analysis_has_a_startup_probe(docs: list[Doc]) -> None:
    (c,) = containers(named(docs, "Deployment", "analysis"))
    probe = c["startupProbe"]
    # Room for generating the dataset, while liveness stays strict once started.
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 180
    assert c["livenessProbe"]["periodSeconds"] * c["livenessProbe"]["failureThreshold"] <= 60


def test_requests_and_limits_everywhere(docs: list[Doc]) -> None:
    for deployment in of_kind(docs, "Deployment"):
        for c in containers(deployment):
            for bound in ("requests", "limits"):
                assert set(c["resources"][bound]) >= {"cpu", "memory"}, (c["name"], bound)


def test_pods_run_non_root_read_only_without_capabilities(docs: list[Doc]) -> None:
    for deployment in of_kind(docs, "Deployment"):
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, c["name"]
            assert sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
            assert "add" not in sc["capabilities"], c["name"]


def test_no_service_account_token_is_mounted(docs: list[Doc]) -> None:
    for deployment in of_kind(docs, "Deployment"):
        spec = pod_spec(deployment)
        assert spec["automountServiceAccountToken"] is False
        account = named(docs, "ServiceAccount", spec["serviceAccountName"])
        assert account["automountServiceAccountToken"] is False


def test_images_are_pinned(docs: list[Doc]) -> None:
    for deployment in of_kind(docs, "Deployment"):
        for c in containers(deployment):
            image = c["image"]
            name, _, tag = image.rpartition(":")
            assert "@sha256:" in image or (name and "/" not in tag and tag != "latest"), image


def test_every_deployment_has_a_disruption_budget(docs: list[Doc]) -> None:
    budgets = of_kind(docs, "PodDisruptionBudget")
    for deployment in of_kind(docs, "Deployment"):
        covering = [
            b for b in budgets if labels_match(b["spec"]["selector"], pod_labels(deployment))
        ]
        assert len(covering) == 1, deployment["metadata"]["name"]
        assert covering[0]["spec"]["maxUnavailable"] == 1


def test_grace_period_covers_prestop_and_drain(docs: list[Doc]) -> None:
    for service in SERVICES:
        deployment = named(docs, "Deployment", service)
        (c,) = containers(deployment)
        command = c["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep"
        pre_stop_s = int(command[1])
        drain_s = int(env_of(c)["SHUTDOWN_GRACE_SECONDS"])
        budget = pod_spec(deployment)["terminationGracePeriodSeconds"]
        assert pre_stop_s >= 3, "too short for endpoint removal to reach clients"
        assert pre_stop_s + drain_s + PRESTOP_DRAIN_MARGIN_S <= budget, service


def test_services_listen_where_kubernetes_looks(docs: list[Doc]) -> None:
    for service in SERVICES:
        (c,) = containers(named(docs, "Deployment", service))
        env = env_of(c)
        prefix = service.upper()
        assert env[f"{prefix}_HOST"] == "0.0.0.0"
        assert int(env[f"{prefix}_PORT"]) == GRPC_PORTS[service]
        assert int(env[f"{prefix}_METRICS_PORT"]) == METRICS_PORTS[service]
        assert c["args"] == [service]


def test_clients_balance_over_headless_services(docs: list[Doc]) -> None:
    """dns:/// targets resolve every pod of a headless Service; round_robin spreads calls."""
    for service in SERVICES:
        svc = named(docs, "Service", service)
        assert svc["spec"]["clusterIP"] == "None"
        ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
        assert ports == {"grpc": GRPC_PORTS[service], "metrics": METRICS_PORTS[service]}
        assert labels_match(
            {"matchLabels": svc["spec"]["selector"]}, pod_labels(named(docs, "Deployment", service))
        )
    (gateway,) = containers(named(docs, "Deployment", "gateway"))
    env = env_of(gateway)
    for peer in ("cache", "analysis", "monitor"):
        assert env[f"{peer.upper()}_ADDRESS"] == (
            f"dns:///{peer}.$(POD_NAMESPACE).svc.cluster.local:{GRPC_PORTS[peer]}"
        )
    names = [e["name"] for e in gateway["env"]]
    assert names.index("POD_NAMESPACE") < names.index("CACHE_ADDRESS"), "expansion order"


def test_prod_runs_at_least_two_replicas() -> None:
    docs = list(_rendered("prod"))
    for deployment in of_kind(docs, "Deployment"):
        assert deployment["spec"]["replicas"] >= 2, deployment["metadata"]["name"]
        spread = {
            c["topologyKey"]: c["labelSelector"]
            for c in pod_spec(deployment)["topologySpreadConstraints"]
        }
        assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        for selector in spread.values():
            assert labels_match(selector, pod_labels(deployment))
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] >= 2, hpa["metadata"]["name"]


def test_autoscalers_use_cpu_and_a_per_pod_metric_with_explicit_behaviour(docs: list[Doc]) -> None:
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(docs, "HorizontalPodAutoscaler")
    }
    assert set(hpas) >= {"gateway", "cache", "analysis"}
    for target, hpa in hpas.items():
        named(docs, "Deployment", target)
        metrics = hpa["spec"]["metrics"]
        assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in metrics)
        assert any(m["type"] == "Pods" for m in metrics), target
        behavior = hpa["spec"]["behavior"]
        assert behavior["scaleUp"]["policies"] and behavior["scaleDown"]["policies"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 60
    pods_metrics = {
        m["pods"]["metric"]["name"]
        for m in hpas["gateway"]["spec"]["metrics"]
        if m["type"] == "Pods"
    }
    assert pods_metrics == {"oppsuite_gateway_in_flight", "oppsuite_gateway_queued"}


# --- network policies: a small evaluator of who may talk to whom ---------------------------


def _peer_allows(rule_peers: list[Doc] | None, labels: dict[str, str]) -> bool:
    if rule_peers is None:  # no "from"/"to": any peer
        return True
    for peer in rule_peers:
        if "ipBlock" in peer:
            continue
        if "namespaceSelector" in peer and peer["namespaceSelector"] != {}:
            continue  # another namespace: not one of our pods
        if labels_match(peer.get("podSelector", {}), labels):
            return True
    return False


def _port_allows(rule_ports: list[Doc] | None, port: int) -> bool:
    return rule_ports is None or any(p.get("port") == port for p in rule_ports)


def allowed(policies: list[Doc], src: dict[str, str], dst: dict[str, str], port: int) -> bool:
    """True when src's egress and dst's ingress both allow the connection (same namespace)."""

    def direction_allows(kind: str, owner: dict[str, str], other: dict[str, str]) -> bool:
        selecting = [
            p
            for p in policies
            if kind in p["spec"]["policyTypes"] and labels_match(p["spec"]["podSelector"], owner)
        ]
        if not selecting:
            return True  # not isolated in this direction
        key, peers_key = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
        return any(
            _peer_allows(rule.get(peers_key), other) and _port_allows(rule.get("ports"), port)
            for p in selecting
            for rule in p["spec"].get(key, [])
        )

    return direction_allows("Egress", src, dst) and direction_allows("Ingress", dst, src)


EXPECTED_FLOWS = {
    ("gateway", "cache", 50052),
    ("gateway", "analysis", 50053),
    ("gateway", "monitor", 50054),
    ("cache", "monitor", 50054),
    ("analysis", "monitor", 50054),
    ("gateway", "redis", 6379),
    ("cache", "redis", 6379),
    ("monitor", "redis", 6379),
}


def test_network_policies_allow_exactly_the_request_flow() -> None:
    docs = list(_rendered("dev"))  # dev has both the in-cluster Redis and the policies
    policies = of_kind(docs, "NetworkPolicy")
    pods = {d["metadata"]["name"]: pod_labels(d) for d in of_kind(docs, "Deployment")}
    assert set(pods) == {*SERVICES, "redis"}
    ports = {*GRPC_PORTS.values(), 6379}
    actual = {
        (src, dst, port)
        for src in pods
        for dst in pods
        for port in ports
        if src != dst and allowed(policies, pods[src], pods[dst], port)
    }
    assert actual == EXPECTED_FLOWS


def test_every_pod_is_isolated_both_ways(docs: list[Doc]) -> None:
    policies = of_kind(docs, "NetworkPolicy")
    for deployment in of_kind(docs, "Deployment"):
        labels = pod_labels(deployment)
        for kind in ("Ingress", "Egress"):
            assert any(
                kind in p["spec"]["policyTypes"] and labels_match(p["spec"]["podSelector"], labels)
                for p in policies
            ), (deployment["metadata"]["name"], kind)


def test_prometheus_may_scrape_and_callers_reach_only_the_gateway() -> None:
    docs = list(_rendered("dev"))
    policies = of_kind(docs, "NetworkPolicy")
    scrape = named(docs, "NetworkPolicy", "allow-prometheus-scrape")
    scrape_ports = {p["port"] for rule in scrape["spec"]["ingress"] for p in rule["ports"]}
    assert scrape_ports == set(METRICS_PORTS.values())
    cross_namespace = {
        (p["metadata"]["name"], port["port"])
        for p in policies
        for rule in p["spec"].get("ingress", [])
        for peer in rule.get("from", [])
        if peer.get("namespaceSelector") == {}
        for port in rule["ports"]
    }
    assert cross_namespace == {("gateway", 50051)}


# --- monitoring resources ------------------------------------------------------------------


def test_service_monitor_scrapes_every_service_on_its_metrics_port() -> None:
    docs = list(_rendered("prod"))
    (monitor,) = of_kind(docs, "ServiceMonitor")
    selector = monitor["spec"]["selector"]
    selected = [
        s for s in of_kind(docs, "Service") if labels_match(selector, s["metadata"]["labels"])
    ]
    assert {s["metadata"]["name"] for s in selected} == set(SERVICES)
    for endpoint in monitor["spec"]["endpoints"]:
        for service in selected:
            assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_recording_rules_resource_matches_the_prometheus_file() -> None:
    file_groups = yaml.safe_load((ROOT / "deploy/prometheus/recording-rules.yaml").read_text())
    resource = yaml.safe_load((K8S / "components/prometheus-rule/recording-rules.yaml").read_text())
    assert resource["spec"]["groups"] == file_groups["groups"], (
        "regenerate components/prometheus-rule/recording-rules.yaml from "
        "deploy/prometheus/recording-rules.yaml"
    )


def test_dashboard_config_map_carries_the_dashboard() -> None:
    canonical = (ROOT / "deploy/grafana/oppsuite.json").read_text()
    copy = (K8S / "components/grafana-dashboard/oppsuite.json").read_text()
    assert copy == canonical, "copy deploy/grafana/oppsuite.json into the component"
    docs = list(_rendered("prod"))
    config_map = named(docs, "ConfigMap", "oppsuite-grafana-dashboard")
    assert json.loads(config_map["data"]["oppsuite.json"])["uid"] == "oppsuite-overview"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_configuration_is_generated_and_referenced(docs: list[Doc]) -> None:
    (config,) = [
        c
        for c in of_kind(docs, "ConfigMap")
        if c["metadata"]["name"].startswith("oppsuite-config-")
    ]
    for deployment in of_kind(docs, "Deployment"):
        if deployment["metadata"]["name"] == "redis":
            continue
        (c,) = containers(deployment)
        assert c["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]


def test_prod_points_at_managed_aws_dependencies() -> None:
    docs = list(_rendered("prod"))
    (config,) = [
        c
        for c in of_kind(docs, "ConfigMap")
        if c["metadata"]["name"].startswith("oppsuite-config-")
    ]
    assert config["data"]["REDIS_URL"].startswith("rediss://")
    assert config["data"]["CACHE_DYNAMODB_TABLE"]
    for account in ("cache", "analysis", "monitor"):
        annotations = named(docs, "ServiceAccount", account)["metadata"]["annotations"]
        assert annotations["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert not [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "redis"]
