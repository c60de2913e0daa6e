"""A stand-in for Compute Engine and Google's token endpoint, for the provider's tests (see `server`). It needs
the `test` extra (`cryptography`, to make service-account keys)."""

from parlay_provider_gcp.standin.server import ComputeStandIn

__all__ = ["ComputeStandIn"]
