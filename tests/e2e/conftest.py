"""End-to-end fixtures: ``e2e`` (an E2eRig, see tests/e2e/rig.py) and the baresip factory."""

from tests.e2e.rig import e2e, ingress
from tests.fixtures.baresip import baresip_factory

__all__ = ["baresip_factory", "e2e", "ingress"]
