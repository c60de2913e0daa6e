"""Memoization and checkpointing, across runs."""

import os
from pathlib import Path

import pytest

import parlay
from parlay import Config, File, python_app
from parlay.dataflow.memoization import id_for_memo, load_checkpoint
from parlay.errors import BadCheckpoint, UnhashableArgument
from parlay.utils import get_all_checkpoints, get_last_checkpoint

TIMEOUT = 60
CALLS: list = []


@python_app(cache=True)
def square(x):
    CALLS.append(x)
    return x * x


@python_app(cache=True, ignore_for_cache=["note"])
def tagged(x, note=""):
    CALLS.append(x)
    return x


@python_app(cache=True)
def labelled(label=None):
    CALLS.append(label)
    return label


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


def test_same_arguments_run_once(run_dir):
    with parlay.load(Config(run_dir=run_dir)):
        futures = [square(3) for _ in range(3)]
        assert futures[0].result(TIMEOUT) == 9
        later = square(3)
        assert later.result(TIMEOUT) == 9
        assert later.task_status() == "memo_done"
        assert square(4).result(TIMEOUT) == 16
    # futures submitted together all ran (no in-flight collapsing); the later call was memoized
    assert later.task_record.from_memo
    assert CALLS.count(4) == 1


def test_ignore_for_cache(run_dir):
    with parlay.load(Config(run_dir=run_dir)):
        tagged(1, note="a").result(TIMEOUT)
        assert tagged(1, note="b").task_status() == "memo_done"
    assert CALLS == [1]


def test_label_is_part_of_the_hash(run_dir):
    with parlay.load(Config(run_dir=run_dir)):
        assert labelled(label="a").result(TIMEOUT) == "a"
        assert labelled(label="b").result(TIMEOUT) == "b"
        again = labelled(label="a")
        assert again.result(TIMEOUT) == "a"
        assert again.task_status() == "memo_done"
    assert CALLS == ["a", "b"]


def test_app_cache_off_disables_memoization(run_dir):
    with parlay.load(Config(run_dir=run_dir, app_cache=False)):
        square(2).result(TIMEOUT)
        square(2).result(TIMEOUT)
    assert CALLS == [2, 2]


def test_failures_are_not_memoized(run_dir):
    @python_app(cache=True)
    def sometimes(path):
        if not os.path.exists(path):
            open(path, "w").close()
            raise RuntimeError("first time")
        return "second time"

    marker = os.path.join(run_dir + "-marker")
    with parlay.load(Config(run_dir=run_dir)):
        with pytest.raises(RuntimeError):
            sometimes(marker).result(TIMEOUT)
        assert sometimes(marker).result(TIMEOUT) == "second time"


class Opaque:
    pass


def test_unhashable_argument_is_named(run_dir):
    with parlay.load(Config(run_dir=run_dir)):
        future = square(Opaque())
        with pytest.raises(UnhashableArgument) as info:
            future.result(TIMEOUT)
    text = str(info.value)
    assert "app square: positional argument 0" in text
    assert "test_memoization.Opaque" in text
    assert "id_for_memo.register" in text


def test_new_types_can_be_registered(run_dir):
    class Point:
        def __init__(self, x):
            self.x = x

    @id_for_memo.register(Point)
    def _(point, output_ref=False):
        return id_for_memo(point.x)

    @python_app(cache=True)
    def norm(p):
        CALLS.append(p.x)
        return abs(p.x)

    with parlay.load(Config(run_dir=run_dir)):
        assert norm(Point(-2)).result(TIMEOUT) == 2
        assert norm(Point(-2)).result(TIMEOUT) == 2
    assert CALLS == [-2]


def test_hash_is_stable_for_equal_containers():
    assert id_for_memo({"a": [1, 2], "b": {3}}) == id_for_memo({"b": {3}, "a": [1, 2]})
    assert id_for_memo([1, 2]) != id_for_memo((1, 2))
    assert id_for_memo(File("x.txt")) == id_for_memo(File("x.txt"))
    assert id_for_memo(Path("a")) != id_for_memo("a")


@pytest.mark.parametrize("mode", ["task_exit", "periodic", "dfk_exit", "manual"])
def test_checkpoint_reloaded_by_a_later_run(run_dir, mode):
    options = {"checkpoint_mode": mode}
    if mode == "periodic":
        options["checkpoint_period"] = "00:00:01"
    with parlay.load(Config(run_dir=run_dir, **options)) as dfk:
        assert square(5).result(TIMEOUT) == 25
        parlay.wait_for_current_tasks()
        if mode == "manual":
            dfk.checkpoint()
    assert CALLS == [5]
    assert len(get_all_checkpoints(run_dir)) == 1
    assert get_last_checkpoint(run_dir) == get_all_checkpoints(run_dir)

    with parlay.load(Config(run_dir=run_dir, checkpoint_mode=mode, checkpoint_period=1)):
        again = square(5)
        assert again.result(TIMEOUT) == 25
        assert again.task_status() == "memo_done"
    assert CALLS == [5]


def test_explicit_checkpoint_files(run_dir):
    with parlay.load(Config(run_dir=run_dir, checkpoint_mode="task_exit")):
        square(6).result(TIMEOUT)
        parlay.wait_for_current_tasks()
    first = get_last_checkpoint(run_dir)
    with parlay.load(Config(run_dir=run_dir, checkpoint_files=first)):
        assert square(6).task_status() == "memo_done"
    with parlay.load(Config(run_dir=run_dir, checkpoint_files=[])):
        square(6).result(TIMEOUT)
    assert CALLS == [6, 6]


def test_bad_checkpoint(tmp_path):
    with pytest.raises(BadCheckpoint, match="cannot read checkpoint"):
        load_checkpoint(str(tmp_path / "nowhere"))
    (tmp_path / "tasks.pkl").write_bytes(b"\x80\x05garbage")
    with pytest.raises(BadCheckpoint, match="is corrupt"):
        load_checkpoint(str(tmp_path))


def test_no_checkpoints_yet(tmp_path):
    assert get_all_checkpoints(str(tmp_path / "runinfo")) == []
    assert get_last_checkpoint(str(tmp_path / "runinfo")) == []
