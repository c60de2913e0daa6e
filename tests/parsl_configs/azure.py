from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.providers import AzureProvider

vm_reference = {
    "publisher": "Canonical",
    "offer": "0001-com-ubuntu-server-jammy",
    "sku": "22_04-lts",
    "version": "latest",
    "vm_size": "Standard_D2s_v3",
    "admin_username": "parlayuser",
    "password": "Not-a-real-password-42",
    "disk_size_gb": 30,
}

config = Config(
    executors=[
        HighThroughputExecutor(
            label="azure_single_node",
            address="203.0.113.30",
            provider=AzureProvider(
                vm_reference=vm_reference,
                location="westus",
                key_file=None,
                init_blocks=1,
                max_blocks=1,
            ),
        )
    ],
)
