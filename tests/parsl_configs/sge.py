from parsl.addresses import address_by_route
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.providers import GridEngineProvider

config = Config(
    executors=[
        HighThroughputExecutor(
            label="sge_htex",
            address=address_by_route(),
            max_workers_per_node=2,
            provider=GridEngineProvider(
                queue="all.q",
                walltime="00:10:00",
                nodes_per_block=1,
                init_blocks=1,
                max_blocks=1,
                worker_init="export PORTED_FROM=parsl",
            ),
        )
    ],
    usage_tracking=True,
)
