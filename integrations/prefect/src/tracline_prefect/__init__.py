"""tracline for prefect."""
