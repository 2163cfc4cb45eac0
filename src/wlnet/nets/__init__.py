"""Containers: NetChain (and NetGraph), built on ``container.Container``."""

from .chain import NetChain
from .container import Container

__all__ = ["Container", "NetChain"]
