"""parlay provider plugin: blocks as PBS Pro / OpenPBS jobs (`PBSProProvider`) or Torque jobs (`TorqueProvider`)."""

from parlay_provider_pbs.pbspro import PBSProProvider
from parlay_provider_pbs.torque import TorqueProvider

__all__ = ["PBSProProvider", "TorqueProvider"]
