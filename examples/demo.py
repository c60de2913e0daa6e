"""A small parlay workflow: a bash app writes files, Python apps map and reduce over them.

python examples/demo.py              # threads (the default config)
python examples/demo.py processes    # worker processes (parlay-executor-processes)
python examples/demo.py htex         # the high-throughput executor on local blocks (parlay-executor-htex)
python examples/demo.py dask         # a local Dask cluster (parlay-executor-dask)
python examples/demo.py ray          # a local Ray cluster (parlay-executor-ray)
"""

import os
import sys
import tempfile

import parlay
from parlay import File, bash_app, python_app


@bash_app
def generate(n, outputs=()):
    return f"seq 1 {n} > {outputs[0]}"


@python_app
def total(inputs=()):
    with open(inputs[0]) as stream:
        return sum(int(line) for line in stream)


@python_app
def square(x):
    return x * x


@python_app
def add(*values):
    return sum(values)


def config(kind: str) -> parlay.Config:
    if kind == "processes":
        from parlay.executors import ProcessExecutor

        return parlay.Config(executors=[ProcessExecutor(max_workers=2)])
    if kind == "htex":
        from parlay.executors import HighThroughputExecutor
        from parlay.providers import LocalProvider

        return parlay.Config(executors=[HighThroughputExecutor(max_workers_per_node=2, provider=LocalProvider())])
    if kind == "dask":
        from parlay.executors import DaskExecutor

        return parlay.Config(executors=[DaskExecutor(n_workers=2)])
    if kind == "ray":
        from parlay.executors import RayExecutor

        return parlay.Config(executors=[RayExecutor(num_cpus=2)])
    return parlay.Config()


def main(kind: str = "threads") -> None:
    workdir = tempfile.mkdtemp(prefix="parlay-demo-")
    with parlay.load(config(kind)):
        files = [generate(n, outputs=[File(os.path.join(workdir, f"seq-{n}.txt"))]) for n in (10, 100, 1000)]
        sums = [total(inputs=[f.outputs[0]]) for f in files]
        answer = add(*[square(s) for s in sums])
        print("sums of 1..10, 1..100, 1..1000:", [s.result() for s in sums])
        print("sum of their squares:", answer.result())
    print("done: tasks ran on", kind)


if __name__ == "__main__":
    main(*sys.argv[1:])
