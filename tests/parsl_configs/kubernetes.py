from parsl.addresses import address_by_route
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.providers import KubernetesProvider

config = Config(
    executors=[
        HighThroughputExecutor(
            label="kube-htex",
            cores_per_worker=1,
            max_workers_per_node=1,
            worker_logdir_root="/tmp/",
            address=address_by_route(),
            provider=KubernetesProvider(
                namespace="default",
                image="python:3.11",
                worker_init="pip install parsl",
                nodes_per_block=1,
                init_blocks=1,
                max_blocks=10,
                persistent_volumes=[("my-claim", "/data")],
            ),
        )
    ],
)
