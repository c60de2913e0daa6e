"""Staging: `parlay.staging.X` is the backend class X, found through the `parlay.staging` entry points
and imported on first use; one that is not installed raises `BackendNotFound` naming its package."""

from parlay.plugins.lazy import backend_attributes

__getattr__, __dir__ = backend_attributes("staging")
