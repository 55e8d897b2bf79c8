"""tracline for dagster."""
