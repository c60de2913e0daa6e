"""parlay provider for the MySched batch scheduler."""

from parlay_provider_mysched.provider import MySchedProvider

__all__ = ["MySchedProvider"]
