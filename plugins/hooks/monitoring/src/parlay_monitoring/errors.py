"""Monitoring's warning (imported by the hub without the database libraries)."""


class MonitoringWarning(UserWarning):
    """Monitoring stopped recording a run, or records it incompletely (its database failed, or could not keep
    up); the run itself goes on."""
