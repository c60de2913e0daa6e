from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.providers import AWSProvider

config = Config(
    executors=[
        HighThroughputExecutor(
            label="ec2_single_node",
            address="203.0.113.20",
            provider=AWSProvider(
                image_id="ami-0123456789abcdef0",
                region="us-east-1",
                key_name="my-key",
                instance_type="t2.small",
                spot_max_bid=0,
                nodes_per_block=1,
                init_blocks=1,
                max_blocks=1,
                walltime="01:00:00",
                linger=False,
            ),
        )
    ],
)
