from parsl.addresses import address_by_interface
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.launchers import MpiExecLauncher
from parsl.providers import PBSProProvider
from parsl.usage_tracking.levels import LEVEL_2

config = Config(
    executors=[
        HighThroughputExecutor(
            label="polaris_like",
            address=address_by_interface("lo"),
            heartbeat_period=15,
            heartbeat_threshold=120,
            cpu_affinity="block-reverse",
            prefetch_capacity=0,
            available_accelerators=4,
            provider=PBSProProvider(
                account="MyProject",
                queue="debug",
                select_options="ngpus=4",
                scheduler_options="#PBS -l filesystems=home:eagle",
                worker_init="module load conda; conda activate parsl-env",
                launcher=MpiExecLauncher(bind_cmd="--cpu-bind", overrides="--depth=64 --ppn 1"),
                walltime="01:00:00",
                nodes_per_block=2,
                cpus_per_node=32,
                init_blocks=0,
                min_blocks=0,
                max_blocks=1,
            ),
        )
    ],
    retries=2,
    usage_tracking=LEVEL_2,
)
