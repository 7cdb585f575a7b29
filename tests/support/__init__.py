"""Reusable test harnesses: a real Prometheus (``prometheus``) and a mesh with known traffic
(``mesh_truth``)."""
