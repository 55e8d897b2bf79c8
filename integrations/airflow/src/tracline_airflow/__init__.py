"""tracline for airflow."""
