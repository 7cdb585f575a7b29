"""Mesh backends: where the Istio resources live. See ``traffic.backends.base``."""

from traffic.backends.base import MeshBackend, Snapshot, backend_names, get_backend, register

__all__ = ["MeshBackend", "Snapshot", "backend_names", "get_backend", "register"]
