"""parlay staging of `http://` and `https://` inputs with the standard library: `HTTPSeparateTaskStaging`
(each download a task of its own) and `HTTPInTaskStaging` (downloads on the worker, before the app)."""

from parlay_staging_http.staging import HTTPInTaskStaging, HTTPSeparateTaskStaging

__all__ = ["HTTPInTaskStaging", "HTTPSeparateTaskStaging"]
