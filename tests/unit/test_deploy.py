"""What `docker compose up` brings: Prometheus scraping Arbiter, and Grafana with a
dashboard whose every query asks for a metric Arbiter exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from gateway.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "arbiter.json"
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported_names() -> set[str]:
    """Every series name Arbiter's /metrics can carry, from its metrics registry."""
    names = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queries += [v["definition"] for v in dashboard["templating"]["list"]]
    return queries


def test_every_dashboard_query_asks_for_an_exported_metric():
    exported = exported_names()
    queries = dashboard_queries()
    used = {name for q in queries for name in re.findall(r"\barbiter_[a-z0-9_]+", q)}
    assert used and used <= exported, sorted(used - exported)
    assert all(re.search(r"\barbiter_", q) for q in queries)


def test_the_dashboard_shows_what_an_operator_asks_for():
    dashboard = json.loads(DASHBOARD.read_text())
    panels = {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in dashboard["panels"]}
    joined = {title: " ".join(exprs) for title, exprs in panels.items()}

    def panel_with(*needles: str) -> str:
        found = [t for t, q in joined.items() if all(n in q for n in needles)]
        assert found, f"no panel queries {needles}"
        return found[0]

    panel_with("arbiter_requests_total")
    panel_with('status="error"', "arbiter_requests_total", "/")  # error rate
    for histogram in ("arbiter_request_duration_seconds", "arbiter_time_to_first_token_seconds"):
        panel_with("histogram_quantile(0.5", "histogram_quantile(0.95", histogram, "by (model, le)")
    panel_with("rate(arbiter_tokens_total")  # tokens/s
    panel_with("arbiter_cost_usd_total", "* 3600")  # cost per hour
    panel_with('result="hit"', "arbiter_cache_requests_total", "/")  # hit ratio
    panel_with("arbiter_deployment_up")
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard_folder():
    datasources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    [source] = datasources["datasources"]
    used_uids = {
        t["datasource"]["uid"]
        for p in json.loads(DASHBOARD.read_text())["panels"]
        for t in p.get("targets", [])
    }
    assert used_uids == {source["uid"]}
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/arbiter.yml").read_text())
    [provider] = providers["providers"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    mounts = dict(v.split(":")[:2] for v in compose["grafana"]["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"


def test_prometheus_scrapes_the_arbiter_service_of_the_compose_file():
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert job["static_configs"][0]["targets"] == ["arbiter:8080"]
    assert "8080:8080" in compose["arbiter"]["ports"]
    assert (
        "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro"
        in (compose["prometheus"]["volumes"])
    )
