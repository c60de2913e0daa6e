"""What Parsl's users bring besides names: `parlay.concurrent`'s pool executor, the address helpers, the
logging helpers, `usage_tracking`, `memoizer=BasicMemoizer(...)`, Parsl's block error handlers."""

import functools
import io
import ipaddress
import logging
import socket
import threading
import time

import pytest

import parlay
from parlay import Config
from parlay.addresses import (
    address_by_hostname,
    address_by_interface,
    address_by_route,
    get_all_addresses,
    get_any_address,
    tcp_url,
)
from parlay.concurrent import ParlayPoolExecutor, ParslPoolExecutor
from parlay.dataflow.memoization import BasicMemoizer
from parlay.dataflow.states import States
from parlay.errors import BadStateException, ConfigurationError
from parlay.executors.blocks import noop_error_handler, simple_error_handler, windowed_error_handler
from parlay.log_utils import set_file_logger, set_stream_logger
from parlay.providers.base import JobState, JobStatus

TIMEOUT = 60


def slow_square(x, seconds=0.0):
    time.sleep(seconds)
    return x * x


def test_parsl_pool_executor_code_runs_unchanged(tmp_path):
    # As Parsl's documentation shows it, with `parsl` replaced by `parlay`.
    with ParslPoolExecutor(Config(run_dir=str(tmp_path))) as pool:
        future = pool.submit(slow_square, 3)
        assert future.result(TIMEOUT) == 9
        assert list(pool.map(slow_square, range(5))) == [0, 1, 4, 9, 16]
        assert pool.app_count == 1, "one app per function"
        chained = pool.submit(slow_square, future)  # its futures are parlay futures: they chain
        assert chained.result(TIMEOUT) == 81
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(slow_square, 1)
    with pytest.raises(parlay.errors.NoDataFlowKernelError):
        parlay.dfk()  # the kernel the pool loaded is cleaned up and gone


def test_a_pool_on_a_running_kernel_leaves_it_running(tmp_path):
    with parlay.load(Config(run_dir=str(tmp_path))) as dfk:
        with ParlayPoolExecutor(dfk=dfk) as pool:
            assert pool.submit(slow_square, 4).result(TIMEOUT) == 16
        assert parlay.dfk() is dfk
        with pytest.raises(ValueError, match="one of config="):
            ParlayPoolExecutor(Config(), dfk=dfk)


def test_map_with_a_timeout_cancels_what_has_not_started(tmp_path):
    config = Config(run_dir=str(tmp_path), executors=[parlay.ThreadPoolExecutor(max_threads=1)])
    with ParlayPoolExecutor(config) as pool:
        results = pool.map(functools.partial(slow_square, seconds=0.5), range(6), timeout=0.2)
        with pytest.raises(TimeoutError):
            list(results)
        assert parlay.dfk().task_state_counts[States.cancelled] >= 1


def test_shutdown_can_cancel_queued_calls(tmp_path):
    config = Config(run_dir=str(tmp_path), executors=[parlay.ThreadPoolExecutor(max_threads=1)])
    pool = ParlayPoolExecutor(config)
    futures = [pool.submit(slow_square, n, 0.3) for n in range(5)]
    pool.shutdown(wait=True, cancel_futures=True)
    assert all(f.done() for f in futures)
    assert any(f.cancelled() for f in futures), "the queued calls are cancelled"
    assert [f.result() for f in futures if not f.cancelled()] == [
        n * n for n, f in enumerate(futures) if not f.cancelled()
    ]


def test_the_address_helpers_find_this_hosts_addresses():
    addresses = get_all_addresses()
    assert addresses and all(ipaddress.ip_address(a).version == 4 for a in addresses)
    assert len(set(addresses)) == len(addresses)
    loopback = [ipaddress.ip_address(a).is_loopback for a in addresses]
    assert loopback == sorted(loopback), "addresses that are not loopback come first"
    assert address_by_interface("lo") == "127.0.0.1"
    with pytest.raises(OSError):
        address_by_interface("no-such-if0")
    assert address_by_hostname() == socket.gethostbyname(socket.gethostname())
    assert get_any_address() == addresses[0]
    assert address_by_route() in addresses or not address_by_route()
    assert tcp_url("10.0.0.1", 5) == "tcp://10.0.0.1:5" and tcp_url("::1", 5) == "tcp://[::1]:5"
    assert tcp_url("*", 7) == "tcp://*:7" and tcp_url("10.0.0.1") == "tcp://10.0.0.1"


def test_address_by_query_asks_the_given_service():
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"198.51.100.4")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.handle_request, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        assert parlay.addresses.address_by_query(timeout=TIMEOUT, url=url) == "198.51.100.4"
    finally:
        server.server_close()


def test_the_logging_helpers_log_parlay(tmp_path):
    stream = io.StringIO()
    set_stream_logger(level=logging.INFO, stream=stream, format_string="%(levelname)s %(message)s")
    set_file_logger(str(tmp_path / "parlay.txt"), level=logging.WARNING)
    logger = logging.getLogger("parlay.compat.test")
    try:
        logger.info("to the stream only")
        logger.warning("to both")
    finally:
        for handler in logging.getLogger("parlay").handlers[-2:]:
            logging.getLogger("parlay").removeHandler(handler)
            handler.close()
    assert stream.getvalue() == "INFO to the stream only\nWARNING to both\n"
    assert "to both" in (tmp_path / "parlay.txt").read_text()
    assert "to the stream only" not in (tmp_path / "parlay.txt").read_text()


def test_usage_tracking_is_accepted_and_sends_nothing():
    from parlay.config import LEVEL_3

    assert Config(usage_tracking=LEVEL_3, project_name="mine").usage_tracking == 3
    assert Config(usage_tracking=True).usage_tracking == 1
    with pytest.raises(ConfigurationError, match=r"usage_tracking=4: allowed values are 0 to 3"):
        Config(usage_tracking=4)


def test_a_basic_memoizer_sets_the_checkpoint_fields():
    config = Config(memoizer=BasicMemoizer(checkpoint_mode="periodic", checkpoint_period="00:01:00", memoize=False))
    assert (config.checkpoint_mode, config.checkpoint_period, config.app_cache) == ("periodic", "00:01:00", False)
    with pytest.raises(ConfigurationError, match="either memoizer=BasicMemoizer"):
        Config(memoizer=BasicMemoizer(), checkpoint_mode="task_exit")
    with pytest.raises(ConfigurationError, match="checkpoint_period is required"):
        Config(memoizer=BasicMemoizer(checkpoint_mode="periodic"))
    with pytest.raises(ConfigurationError, match=r"Config\.memoizer="):
        Config(memoizer="basic")


class Blocks:
    """What Parsl's error handlers read of an executor: its failed blocks, its live blocks, its provider."""

    def __init__(self, failed, alive=(), init_blocks=1):
        failure = ("0", "its job ended FAILED", JobStatus(JobState.FAILED))
        self.failed_to_start = [failure] * failed
        self.blocks = dict.fromkeys(alive, "job")
        self.provider = type("Provider", (), {"init_blocks": init_blocks})()
        self.failed_with = None

    def fail_if_blocks_cannot_start(self, threshold):
        from parlay.executors.blocks import BlockProviderExecutor

        self.replaces_blocks, self.block_error_threshold, self.label, self._last_worked = True, threshold, "x", None
        self.set_bad_state_and_fail_all = lambda exc: setattr(self, "failed_with", exc)
        BlockProviderExecutor.fail_if_blocks_cannot_start(self, threshold)


@pytest.mark.parametrize(
    ("handler", "blocks", "fails"),
    [
        (noop_error_handler, Blocks(failed=10), False),
        (simple_error_handler, Blocks(failed=1), True),
        (simple_error_handler, Blocks(failed=1, init_blocks=2), False),
        (simple_error_handler, Blocks(failed=2, alive=["7"], init_blocks=2), False),
        (windowed_error_handler, Blocks(failed=2), False),
        (windowed_error_handler, Blocks(failed=3), True),
        (functools.partial(windowed_error_handler, threshold=5), Blocks(failed=4), False),
        (functools.partial(windowed_error_handler, threshold=5), Blocks(failed=5), True),
    ],
)
def test_parsls_block_error_handlers(handler, blocks, fails):
    handler(blocks, {})
    assert isinstance(blocks.failed_with, BadStateException) if fails else blocks.failed_with is None
