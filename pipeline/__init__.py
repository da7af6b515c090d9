"""blur-augment's pipeline: options, graph, schemas, CLI and log analysis."""
