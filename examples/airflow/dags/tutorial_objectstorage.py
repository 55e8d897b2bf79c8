# Adapted from Apache Airflow's example DAG ``airflow/example_dags/tutorial_objectstorage.py``
# (Apache License 2.0). Changes, so that it runs offline and with the standard library only:
# the air-quality API response is read from a saved sample instead of fetched over HTTP; the
# object store is a local folder (``file://``) instead of S3; CSV replaces parquet and the
# analysis uses ``statistics`` instead of pandas/duckdb. It knows nothing of tracline: its
# lineage (files and content hashes) comes from installing tracline-airflow alone.
from __future__ import annotations

import csv
import json
import os
import statistics
from collections.abc import Mapping
from pathlib import Path

import pendulum
from airflow.sdk import ObjectStoragePath, dag, task

#: Stands in for https://air-quality-api.open-meteo.com/v1/air-quality (no network here).
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "air_quality_delhi_2024-03-01.json"

aq_fields = {
    "pm10": "float64",
    "pm2_5": "float64",
    "carbon_monoxide": "float64",
    "nitrogen_dioxide": "float64",
    "sulphur_dioxide": "float64",
    "ozone": "float64",
    "european_aqi": "float64",
    "us_aqi": "float64",
}

_root = Path(os.environ.get("TRACLINE_EXAMPLE_DATA", "~/tracline-example")).expanduser()
base = ObjectStoragePath(f"file://{_root.resolve()}/airflow-tutorial-data/")


@dag(
    schedule=None,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example"],
)
def tutorial_objectstorage():
    """
    ### Object Storage Tutorial Documentation
    This is a tutorial DAG to showcase the usage of the Object Storage API.
    Documentation that goes along with the Airflow Object Storage tutorial is
    located
    [here](https://airflow.apache.org/docs/apache-airflow/stable/tutorial/objectstorage.html)
    """

    @task
    def get_air_quality_data(**kwargs) -> ObjectStoragePath:
        """
        #### Get Air Quality Data
        This task gets air quality data (here: a saved response of the open-meteo API).
        The data is saved as CSV.
        """
        logical_date = kwargs["logical_date"] or kwargs["dag_run"].run_after

        params: Mapping[str, str | float] = {
            "latitude": 28.6139,
            "longitude": 77.2090,
            "hourly": ",".join(aq_fields.keys()),
            "timezone": "UTC",
        }
        print(f"air quality for {params['latitude']}, {params['longitude']}")

        with SAMPLE.open() as response:
            data = json.load(response)
        hourly_data = data.get("hourly", {})

        # ensure the bucket exists
        base.mkdir(exist_ok=True, parents=True)

        formatted_date = logical_date.strftime("%Y%m%d")
        path = base / f"air_quality_{formatted_date}.csv"

        columns = ["time", *aq_fields]
        with path.open("w") as file:
            writer = csv.writer(file)
            writer.writerow(columns)
            for row in zip(*(hourly_data[c] for c in columns), strict=True):
                writer.writerow(row)
        return path

    @task
    def analyze(path: ObjectStoragePath):
        """
        #### Analyze
        This task analyzes the air quality data, prints the results
        """
        with path.open("r") as file:
            rows = list(csv.DictReader(file))

        for field in aq_fields:
            values = [float(r[field]) for r in rows]
            print(f"{field:>18}: mean {statistics.fmean(values):8.1f}  max {max(values):8.1f}")

    obj_path = get_air_quality_data()
    analyze(obj_path)


tutorial_objectstorage()
