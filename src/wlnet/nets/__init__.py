"""Containers: NetChain and NetGraph, built on ``container.Container``."""

from .chain import NetChain
from .container import Container
from .graph import Graph, NetGraph, NetPort

__all__ = ["Container", "Graph", "NetChain", "NetGraph", "NetPort"]
