from parsl.addresses import address_by_hostname
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.launchers import JsrunLauncher
from parsl.providers import LSFProvider

config = Config(
    executors=[
        HighThroughputExecutor(
            label="summit_like",
            address=address_by_hostname(),
            worker_port_range=(50000, 55000),
            available_accelerators=6,
            provider=LSFProvider(
                launcher=JsrunLauncher(overrides="-g 6 -a 1"),
                walltime="00:30:00",
                nodes_per_block=2,
                init_blocks=1,
                max_blocks=1,
                worker_init="source ~/setup.sh",
                project="GEN123",
                cmd_timeout=60,
            ),
        )
    ],
)
