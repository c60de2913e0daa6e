"""The apps of the executor conformance suite. They live in an importable module so that executors
that run tasks in other processes can load them by reference."""

from __future__ import annotations

import os
import signal
import time

from parlay.apps import bash_app, join_app, python_app


@python_app
def identity(x):
    return x


@python_app
def add(*values):
    return sum(values)


@python_app
def fail(message="boom", exc_type=ValueError):
    raise exc_type(message)


@python_app
def sleep_then(seconds, value=None):
    time.sleep(seconds)
    return value


@python_app
def fail_until(counter_path, failures):
    """Fail the first `failures` calls (counted in a file), then return the number of calls."""
    with open(counter_path, "a") as stream:
        stream.write("x")
    calls = os.path.getsize(counter_path)
    if calls <= failures:
        raise RuntimeError(f"failure {calls}")
    return calls


@python_app
def die_first_time(marker):
    """Kill its own process the first time (for executors whose workers are processes), then succeed."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


@python_app
def count_calls(counter_path, x):
    with open(counter_path, "a") as stream:
        stream.write("x")
    return x * 2


@python_app
def read_inputs(inputs=()):
    return [open(os.fspath(f)).read() for f in inputs]


@python_app
def write_output(text, outputs=()):
    with open(os.fspath(outputs[0]), "w") as stream:
        stream.write(text)
    return text


@python_app
def record(mapping):
    return {"a": mapping, "n": len(mapping)}


@bash_app
def echo(text, stdout=None, stderr=None):
    return f"echo {text}; echo to-stderr {text} >&2"


@bash_app
def exit_with(code):
    return f"exit {code}"


@bash_app
def concatenate(inputs=(), outputs=(), stdout=None):
    return f"cat {' '.join(map(os.fspath, inputs))} > {os.fspath(outputs[0])}"


@bash_app
def claim_outputs(outputs=()):
    return "true"


@bash_app
def sleep_in_background(pid_file, walltime=None):
    return f"sleep 60 & echo $! > {pid_file}; wait"


@python_app
def python_sleep(seconds, walltime=None):
    # short naps: a thread can only be interrupted between bytecodes, not inside one long C call
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return "finished"


@join_app
def fan_out(n):
    return [identity(i) for i in range(n)]


@join_app
def chain_join(x):
    return add(identity(x), 1)


@join_app
def join_failing():
    return [identity(1), fail("inner failure")]


# --- plain functions the staging suite makes apps of, per executor -------------------------------


def read_text(inputs=()):
    """The contents of each input file, joined."""
    return "".join(open(f).read() for f in inputs)


def write_text(text, outputs=()):
    """Write `text` to the first output file."""
    with open(outputs[0], "w") as stream:
        stream.write(text)
    return outputs[0].url if hasattr(outputs[0], "url") else str(outputs[0])


def cat_command(inputs=(), outputs=()):
    """A bash command copying the first input to the first output, upper-cased."""
    return f"tr a-z A-Z < {inputs[0]} > {outputs[0]}"


class WhereProbe:
    """A `parlay_task_probe` probe for tests: where a try ran and for how long."""

    def __init__(self, fail_in: str | None = None):
        self.fail_in = fail_in  # "start" or "stop": that call raises, as a broken probe would

    def start(self):
        if self.fail_in == "start":
            raise RuntimeError("probe start broke")
        return time.time()

    def stop(self, started, error):
        if self.fail_in == "stop":
            raise RuntimeError("probe stop broke")
        import socket

        seconds = time.time() - started
        return {"pid": os.getpid(), "host": socket.gethostname(), "seconds": seconds, "error": repr(error)}
