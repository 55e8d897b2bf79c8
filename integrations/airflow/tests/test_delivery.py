"""With the lineage backend unreachable, DAG runs succeed and their lineage arrives later."""

from __future__ import annotations

import json

from _airflow_harness import TRACLINE_TOML, AirflowEnv, Server, free_port, ingest_token


def test_runs_succeed_offline_and_lineage_arrives_when_back(airflow: AirflowEnv) -> None:
    """A run against a dead backend succeeds; once the backend is up, the outbox delivers."""
    port = free_port()
    offline = airflow.work / "offline"
    offline.mkdir()
    config = offline / "tracline.toml"
    config.write_text(TRACLINE_TOML.format(serve_url=f"http://127.0.0.1:{port}",
                                           api_key=ingest_token(airflow.root / "later.db")))
    env = airflow.with_env(TRACLINE_CONFIG=str(config))

    code, output = airflow.test_dag("tutorial_objectstorage", env=env)
    assert code == 0, output[-4000:]
    status = json.loads(airflow.run("tracline", "outbox", "status", "--json", env=env,
                                    check=True).stdout)
    (sink,) = [s for s in status["sinks"] if s["name"] == "serve"]  # beside the registry
    assert sink["pending"] >= 5 and sink["delivered"] == 0

    server = Server.start(airflow.root / "later.db", env, port=port)
    try:
        airflow.run("tracline", "outbox", "flush", "--timeout", "600", env=env, check=True)
        events = server.events()
    finally:
        server.stop()
    assert len(events) == sink["pending"]
    fetched = [e for e in events if e["job"]["name"].endswith(".get_air_quality_data")
               and e["eventType"] == "COMPLETE"]
    assert fetched and all("tracline_contentHash" in o["facets"] for o in fetched[0]["outputs"])


def test_each_event_of_dag_runs_is_delivered_once(airflow: AirflowEnv) -> None:
    """Two runs of the example DAG into a JSON-lines file (a sink that does not de-duplicate,
    unlike the session's backend, which other tests read and this one leaves alone): one line
    per event the outbox took, none twice."""
    folder = airflow.work / "once"
    folder.mkdir()
    config = folder / "tracline.toml"
    config.write_text('[tracline]\nnamespace = "airflow-tests"\n'
                      f'[sinks.file]\ntype = "file"\npath = "{folder / "events.jsonl"}"\n')
    env = airflow.with_env(TRACLINE_CONFIG=str(config), TRACLINE_HOME=str(folder / ".tracline"))
    for _ in range(2):
        code, output = airflow.test_dag("tutorial_objectstorage", env=env)
        assert code == 0, output[-4000:]
    airflow.run("tracline", "outbox", "flush", "--timeout", "600", env=env, check=True)
    status = json.loads(airflow.run("tracline", "outbox", "status", "--json", env=env,
                                    check=True).stdout)
    lines = (folder / "events.jsonl").read_text().splitlines()
    assert status["events"] >= 10
    assert len(lines) == len(set(lines)) == status["events"]
    keys = [(e["run"]["runId"], e["eventType"], e["eventTime"]) for e in map(json.loads, lines)]
    assert len(keys) == len(set(keys))
