"""Running the site: version, schema revision, worker heartbeat and job runs, metrics."""
