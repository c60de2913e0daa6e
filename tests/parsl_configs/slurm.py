from parsl.addresses import address_by_hostname
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.launchers import SrunLauncher
from parsl.providers import SlurmProvider
from parsl.usage_tracking.levels import LEVEL_1

config = Config(
    executors=[
        HighThroughputExecutor(
            label="slurm_htex",
            address=address_by_hostname(),
            max_workers_per_node=2,
            provider=SlurmProvider(
                partition="debug",
                nodes_per_block=1,
                init_blocks=1,
                max_blocks=1,
                walltime="00:10:00",
                scheduler_options="#SBATCH --comment=ported-from-parsl",
                worker_init="export PORTED_FROM=parsl",
                launcher=SrunLauncher(),
                cmd_timeout=60,
            ),
        )
    ],
    usage_tracking=LEVEL_1,
)
