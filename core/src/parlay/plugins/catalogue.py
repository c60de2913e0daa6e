"""parlay's own backend plugins that are installed separately: the one place the kernel names them, so
that asking for one that is not installed says which distribution to `pip install`. A repository test
keeps this table equal to the entry points the `plugins/` folders declare."""

from __future__ import annotations

#: kind -> entry-point name -> (class name, distribution)
CATALOGUE: dict[str, dict[str, tuple[str, str]]] = {
    "executors": {
        "dask": ("DaskExecutor", "parlay-executor-dask"),
        "htex": ("HighThroughputExecutor", "parlay-executor-htex"),
        "processes": ("ProcessExecutor", "parlay-executor-processes"),
        "ray": ("RayExecutor", "parlay-executor-ray"),
    },
    "providers": {
        "aws": ("AWSProvider", "parlay-provider-aws"),
        "azure": ("AzureProvider", "parlay-provider-azure"),
        "condor": ("CondorProvider", "parlay-provider-condor"),
        "gcp": ("GoogleCloudProvider", "parlay-provider-gcp"),
        "kubernetes": ("KubernetesProvider", "parlay-provider-kubernetes"),
        "local": ("LocalProvider", "parlay-provider-local"),
        "lsf": ("LSFProvider", "parlay-provider-lsf"),
        "pbs": ("PBSProProvider", "parlay-provider-pbs"),
        "torque": ("TorqueProvider", "parlay-provider-pbs"),
        "sge": ("GridEngineProvider", "parlay-provider-sge"),
        "slurm": ("SlurmProvider", "parlay-provider-slurm"),
    },
    "launchers": {
        "aprun": ("AprunLauncher", "parlay-launcher-aprun"),
        "gnu-parallel": ("GnuParallelLauncher", "parlay-launcher-gnu-parallel"),
        "jsrun": ("JsrunLauncher", "parlay-launcher-jsrun"),
        "mpiexec": ("MpiExecLauncher", "parlay-launcher-mpiexec"),
        "mpirun": ("MpiRunLauncher", "parlay-launcher-mpiexec"),
        "srun": ("SrunLauncher", "parlay-launcher-srun"),
        "srun-mpi": ("SrunMPILauncher", "parlay-launcher-srun"),
    },
    "staging": {
        "ftp": ("FTPSeparateTaskStaging", "parlay-staging-ftp"),
        "ftp-in-task": ("FTPInTaskStaging", "parlay-staging-ftp"),
        "globus": ("GlobusStaging", "parlay-staging-globus"),
        "http": ("HTTPSeparateTaskStaging", "parlay-staging-http"),
        "http-in-task": ("HTTPInTaskStaging", "parlay-staging-http"),
        "rsync": ("RSyncStaging", "parlay-staging-rsync"),
        "s3": ("S3SeparateTaskStaging", "parlay-staging-s3"),
        "s3-in-task": ("S3InTaskStaging", "parlay-staging-s3"),
        "zip": ("ZipFileStaging", "parlay-staging-zip"),
        "zip-in-task": ("ZipInTaskStaging", "parlay-staging-zip"),
    },
    "hooks": {
        "monitoring": ("parlay_monitoring.commands", "parlay-monitoring"),
    },
}

#: URL scheme -> the distribution of parlay's own that stages it, for the error when none is installed.
SCHEMES = {
    "http": "parlay-staging-http",
    "https": "parlay-staging-http",
    "ftp": "parlay-staging-ftp",
    "s3": "parlay-staging-s3",
    "globus": "parlay-staging-globus",
    "zip": "parlay-staging-zip",
}


def distribution_for(kind: str, name: str) -> str | None:
    """The distribution providing parlay's own backend `name` (entry-point or class name), or None."""
    for entry_point, (class_name, distribution) in CATALOGUE.get(kind, {}).items():
        if name in (entry_point, class_name):
            return distribution
    return None
