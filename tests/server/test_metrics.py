"""Prometheus metrics (issue 17, item 1): ``/metrics`` behind ``TEKCIFY_METRICS``, its
token, what it counts, and label values no request can multiply.

Counters belong to the process and the suite runs many apps in it: each test compares
a scrape after its requests with one before.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from tekcify_auth.server.settings import SettingsError, load_settings

from .conftest import (
    PASSWORD,
    FakeClock,
    allow_client_credentials,
    bearer,
    create_oauth_app,
    make_settings,
    register,
    running,
    signed_up,
)
from .mfa_helpers import code_at, enable_mfa, finish_login, start_login

TOKEN = "scrape-" + "x" * 24
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics", headers=SCRAPER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


@pytest.fixture
async def metered(
    database_url: str, tmp_path: Path, clean_db: str
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = make_settings(
        database_url=database_url, data_dir=tmp_path / "data", metrics=True,
        metrics_token=TOKEN,
    )
    async with running(settings) as pair:
        yield pair


async def test_requests_are_counted_by_route_template_method_and_status(
    metered: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = metered
    tokens = await signed_up(client)
    before = await scrape(client)
    oauth = create_oauth_app(app)
    for _ in range(3):
        assert (await client.get("/api/oauth/userinfo", headers=bearer(tokens["accessToken"]))
                ).status_code == 200
    missing = await client.get(f"/api/applications/public/{oauth.client_id}x")
    assert missing.status_code == 404
    after = await scrape(client)
    # The fast lane's route, by its template.
    assert value(after, "tekcify_http_requests_total", route="/api/oauth/userinfo",
                 method="GET", status="200") - value(
        before, "tekcify_http_requests_total", route="/api/oauth/userinfo", method="GET",
        status="200") == 3
    # A FastAPI route with a path parameter: the template, never the client id.
    template = "/api/applications/public/{client_id}"
    assert value(after, "tekcify_http_requests_total", route=template, method="GET",
                 status="404") - value(
        before, "tekcify_http_requests_total", route=template, method="GET", status="404") == 1
    assert value(after, "tekcify_http_request_duration_seconds_count",
                 route="/api/oauth/userinfo", method="GET") - value(
        before, "tekcify_http_request_duration_seconds_count", route="/api/oauth/userinfo",
        method="GET") == 3
    assert not any(oauth.client_id in str(labels) for _name, labels in after)


async def test_sign_ins_tokens_reuse_and_lockouts_are_counted(
    metered: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = metered
    await register(client)
    oauth = create_oauth_app(app)
    allow_client_credentials(app, oauth.client_id)
    before = await scrape(client)

    first = (await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD})).json()
    rotated = await client.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert rotated.status_code == 200
    reused = await client.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert reused.status_code == 401
    issued = await client.post(
        "/api/oauth/token", data={"grant_type": "client_credentials"}, headers=oauth.basic()
    )
    assert issued.status_code == 200
    # Five wrong passwords fill the account + address counter: the sixth is refused.
    wrong = {"email": "ada@example.com", "password": "not the password"}
    for _ in range(5):
        assert (await client.post("/api/auth/login", json=wrong)).status_code == 401
    assert (await client.post("/api/auth/login", json=wrong)).status_code == 429
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("tekcify_sign_ins_total", result="success", factor="password") == 1
    assert delta("tekcify_sign_ins_total", result="failure", factor="password") == 5
    assert delta("tekcify_sign_ins_total", result="refused", factor="password") == 1
    assert delta("tekcify_tokens_issued_total", grant="password") == 1
    assert delta("tekcify_tokens_issued_total", grant="refresh_token") == 1
    assert delta("tekcify_tokens_issued_total", grant="client_credentials") == 1
    assert delta("tekcify_refresh_token_reuse_total") == 1
    assert delta("tekcify_rate_limit_refusals_total", limit="login") == 1
    assert delta("tekcify_lockouts_total", scope="account_address") == 1


async def test_scrape_reports_the_mail_queue_the_pools_and_the_keys(
    database_url: str, tmp_path: Path, clean_db: str
) -> None:
    settings = make_settings(
        database_url=database_url, data_dir=tmp_path / "data", metrics=True,
        metrics_token=TOKEN, signing_alg="RS256",
    )
    async with running(settings) as (_app, client):
        await register(client)  # queues the verification mail (no sender runs here)
        samples = await scrape(client)
    assert value(samples, "tekcify_scrape_database_up") == 1
    assert value(samples, "tekcify_mail_queue_depth", state="due") == 1
    assert ("tekcify_mail_failed_messages", frozenset()) in samples
    assert 0 <= value(samples, "tekcify_signing_key_age_seconds", key="signing") < 3600
    assert value(samples, "tekcify_signing_keys", state="active") == 1
    assert ("tekcify_db_pool_connections", frozenset(
        {("engine", "main"), ("state", "idle")})) in samples
    assert value(samples, "tekcify_worker_processes") >= 1


async def test_metrics_need_the_bearer_token(metered: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _app, client = metered
    for headers in ({}, {"Authorization": "Bearer " + TOKEN[:-1] + "y"},
                    {"Authorization": "Basic " + TOKEN}, {"Authorization": "Bearer"}):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "tekcify_" not in refused.text
    assert (await client.get("/metrics", headers=SCRAPER)).status_code == 200


async def test_metrics_are_off_by_default(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics", headers=SCRAPER)).status_code == 404


async def test_with_a_port_of_their_own_metrics_are_not_on_the_main_port(
    database_url: str, tmp_path: Path, clean_db: str
) -> None:
    settings = make_settings(
        database_url=database_url, data_dir=tmp_path / "data", metrics=True,
        metrics_port=9, metrics_token=TOKEN,
    )
    async with running(settings) as (_app, client):
        assert (await client.get("/metrics", headers=SCRAPER)).status_code == 404


async def test_hostile_random_paths_add_no_series(
    metered: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _app, client = metered
    methods = ["GET", "POST", "BREW", "PROPFIND"]

    def shapes(word: str) -> list[str]:
        return [f"/{word}", f"/api/applications/{word}", f"/api/{word}/x?q={word}",
                f"/api/applications/public/{word}"]

    # One request of each shape and method first: the series a random path can reach.
    for path in shapes("warm-up"):
        for method in methods:
            await client.request(method, path)
    before = await scrape(client)
    randoms = [secrets.token_hex(8) for _ in range(1000)]
    for index, word in enumerate(randoms):
        await client.request(methods[index % 4], shapes(word)[(index // 4) % 4])
    after = await scrape(client)
    new = {key for key in after if key not in before}
    assert not new, sorted(new)[:10]
    text = str(after)
    assert not any(word in text for word in randoms)
    labels = {dict(key[1]).get("method") for key in after if key[0].startswith("tekcify_http")}
    assert labels <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
                      None}


def test_metrics_need_a_port_or_a_token() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"TEKCIFY_METRICS": "true"})
    assert "TEKCIFY_METRICS_PORT" in str(refused.value)
    assert "TEKCIFY_METRICS_TOKEN" in str(refused.value)
    with pytest.raises(SettingsError) as short:
        load_settings({"TEKCIFY_METRICS_TOKEN": "short-token"})
    assert "short-token" not in str(short.value)  # a secret is never echoed


_WITHOUT_PROMETHEUS = """
import sys
sys.modules["prometheus_client"] = None  # as if the [metrics] extra were not installed
from tekcify_auth.server import create_app
from tekcify_auth.server.settings import SettingsError, load_settings
create_app(load_settings({"TEKCIFY_DATA_DIR": sys.argv[1]}))
print("started without metrics")
try:
    create_app(load_settings({"TEKCIFY_DATA_DIR": sys.argv[1], "TEKCIFY_METRICS": "true",
                              "TEKCIFY_METRICS_TOKEN": "x" * 20}))
except SettingsError as exc:
    print(exc)
"""


def test_without_prometheus_client_the_server_starts_unless_metrics_are_on(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PROMETHEUS, str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert "started without metrics" in done.stdout
    assert 'pip install "tekcify-auth-backend[metrics]"' in done.stdout, done.stdout



async def test_second_factors_and_key_states_are_counted(
    database_url: str, tmp_path: Path, clean_db: str
) -> None:
    from tekcify_auth.server.services.keystore import rotate_key

    clock = FakeClock()
    settings = make_settings(
        database_url=database_url, data_dir=tmp_path / "data", metrics=True,
        metrics_token=TOKEN, signing_alg="RS256",
    )
    async with running(settings, clock) as (app, client):
        tokens = await signed_up(client)
        setup = await enable_mfa(client, tokens["accessToken"], clock)
        before = await scrape(client)
        challenge = await start_login(client)
        assert (await finish_login(client, challenge["mfaToken"], code="000000")
                ).status_code == 401
        assert (await finish_login(
            client, challenge["mfaToken"], code=code_at(setup["secret"], clock))
        ).status_code == 200
        challenge = await start_login(client)
        assert (await finish_login(
            client, challenge["mfaToken"], backupCode=setup["backupCodes"][0])
        ).status_code == 200
        ctx = app.state.ctx
        with ctx.db.write() as db:
            rotate_key(db, ctx.settings, ctx.key_cipher, clock())
        after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("tekcify_sign_ins_total", result="challenge", factor="password") == 2
    assert delta("tekcify_sign_ins_total", result="failure", factor="otp") == 1
    assert delta("tekcify_sign_ins_total", result="success", factor="otp") == 1
    assert delta("tekcify_sign_ins_total", result="success", factor="recovery_code") == 1
    assert delta("tekcify_tokens_issued_total", grant="password") == 2
    # keys rotate publishes the next key before it signs.
    assert value(after, "tekcify_signing_keys", state="next") == 1
    assert value(after, "tekcify_signing_keys", state="active") == 1
    assert value(after, "tekcify_signing_keys", state="revoked") == 0


def test_a_flush_records_what_observe_and_inc_would() -> None:
    """The front notes latencies and a flush writes them in a batch (no locked write per
    request): the counts, sums and buckets are prometheus-client's own, bounds included
    (a latency equal to a bound is in that bucket), and so are the tokens by grant."""
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from tekcify_auth.server import metrics

    recorder = metrics._Metrics(multiprocess=False)
    reference = CollectorRegistry()
    requests = Counter("tekcify_http_requests", "", ["route", "method", "status"],
                       registry=reference)
    duration = Histogram("tekcify_http_request_duration_seconds", "", ["route", "method"],
                         registry=reference, buckets=metrics._BUCKETS)
    tokens = Counter("tekcify_tokens_issued", "", ["grant"], registry=reference)
    latencies = [0.0, 0.0004, 0.001, 0.0010001, 0.005, 0.2, 0.25, 9.99, 10.0, 10.5, 60.0]
    calls = [
        ({"method": "GET", "tekcify.route": "/api/oauth/userinfo"}, 200, latencies),
        ({"method": "POST", "tekcify.route": "/api/oauth/token"}, 400, latencies[::3]),
        ({"method": "BREW", "path": "/nowhere"}, 404, [0.002]),
    ]
    for scope, status, seconds in calls:
        for latency in seconds:
            recorder.request(scope, status, latency)
            route = scope.get("tekcify.route", metrics.UNMATCHED)
            method = scope["method"] if scope["method"] in metrics._METHODS else "other"
            requests.labels(route, method, str(status)).inc()
            duration.labels(route, method).observe(latency)
    for grant in ["client_credentials", "password", "client_credentials", "nonsense"]:
        metrics._active, saved = recorder, metrics._active
        try:
            metrics.token_issued(grant)
        finally:
            metrics._active = saved
        tokens.labels(grant if grant in metrics.GRANTS else "other").inc()
    recorder.flush()
    recorder.flush()  # nothing new: nothing counted twice
    assert recorder.registry is not None

    def samples(registry: CollectorRegistry) -> Samples:
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in registry.collect()
            if family.name in ("tekcify_http_requests", "tekcify_tokens_issued",
                               "tekcify_http_request_duration_seconds")
            for sample in family.samples
            if not sample.name.endswith("_created") and sample.value
        }

    got, expected = samples(recorder.registry), samples(reference)
    sums = {key for key in expected if key[0].endswith("_sum")}
    assert {k: v for k, v in got.items() if k not in sums} == {
        k: v for k, v in expected.items() if k not in sums
    }
    for key in sums:
        assert got[key] == pytest.approx(expected[key])


def test_noted_latencies_stay_bounded_when_no_flush_comes() -> None:
    """A blocked event loop delays the once-a-second flush: a route's list of latencies is
    written out by its own request at PENDING_LIMIT, so memory stays bounded."""
    from tekcify_auth.server import metrics

    recorder = metrics._Metrics(multiprocess=False)
    scope = {"method": "GET", "tekcify.route": "/api/oauth/userinfo"}
    for _ in range(metrics.PENDING_LIMIT * 2 + 10):
        recorder.request(scope, 200, 0.001)
    assert sum(len(latencies) for latencies in recorder._pending.values()) == 10
    assert recorder.registry is not None
    written = recorder.registry.get_sample_value(
        "tekcify_http_requests_total",
        {"route": "/api/oauth/userinfo", "method": "GET", "status": "200"},
    )
    assert written == metrics.PENDING_LIMIT * 2
