"""The service graph: the pure core (graph/), the service that feeds it, and its API and pages."""
