from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.providers import CondorProvider

config = Config(
    executors=[
        HighThroughputExecutor(
            label="osg_like",
            address="203.0.113.10",  # the login node, as address_by_query() would find it
            max_workers_per_node=1,
            provider=CondorProvider(
                nodes_per_block=1,
                init_blocks=4,
                max_blocks=4,
                scheduler_options="Requirements = HAS_SINGULARITY == True",
                transfer_input_files=[],
                worker_init="source /cvmfs/some/setup.sh",
                walltime="01:00:00",
            ),
        )
    ],
)
