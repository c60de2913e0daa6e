"""Memoization and checkpointing, across runs; checkpoints that a killed run left incomplete, corrupt ones,
and checkpoints that cannot be written."""

import os
import pickle
import warnings
from pathlib import Path

import pytest

import parlay
from parlay import Config, File, python_app
from parlay.dataflow import current
from parlay.dataflow.memoization import CHECKPOINT_FILE, MAGIC, id_for_memo, load_checkpoint
from parlay.errors import BadCheckpoint, RunFileWarning, UnhashableArgument
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


def checkpointed(run_dir, *values):
    """A run that checkpointed `square` of each value; its checkpoint directory."""
    with parlay.load(Config(run_dir=run_dir, checkpoint_mode="task_exit")):
        for value in values:
            square(value).result(TIMEOUT)
    [directory] = get_all_checkpoints(run_dir)
    return directory


def test_a_checkpoint_cut_short_keeps_its_whole_entries(run_dir):
    """A run killed while it appended an entry leaves it incomplete: wherever it was cut, the entries before it
    load, with a warning naming the file."""
    directory = checkpointed(run_dir, 1, 2)
    path = os.path.join(directory, CHECKPOINT_FILE)
    data = open(path, "rb").read()
    whole = len(data) - len(pickle.dumps({"hash": "x" * 64, "result": 4}, protocol=5)) - 12  # where entry 2 starts
    for end in range(whole + 1, len(data)):
        with open(path, "wb") as stream:
            stream.write(data[:end])
        with pytest.warns(RunFileWarning, match=f"checkpoint {path} ends with an incomplete entry") as caught:
            assert list(load_checkpoint(directory).values()) == [1], end
        assert len(caught) == 1
    with open(path, "wb") as stream:
        stream.write(data[: len(MAGIC) // 2])  # killed before its first entry
    assert load_checkpoint(directory) == {}


@pytest.mark.parametrize("where", ["header", "pickle"])
def test_a_corrupt_checkpoint_names_the_file_and_what_to_do(run_dir, where):
    directory = checkpointed(run_dir, 1, 2)
    path = os.path.join(directory, CHECKPOINT_FILE)
    data = bytearray(open(path, "rb").read())
    data[len(MAGIC) + (1 if where == "header" else 20)] ^= 0xFF  # in the first entry
    open(path, "wb").write(data)
    CALLS.clear()
    with pytest.raises(BadCheckpoint) as info:
        parlay.load(Config(run_dir=run_dir, checkpoint_mode="task_exit"))
    assert str(info.value) == (
        f"checkpoint {path} is corrupt at byte {len(MAGIC)}; delete {directory} (its results are computed again) "
        "or leave it out of Config(checkpoint_files=...)"
    )
    assert info.value.__cause__ is None and info.value.__context__ is None, "no traceback from the unpickler"
    assert current.get() is None
    with parlay.load(Config(run_dir=run_dir, checkpoint_files=[])):  # the remedy
        assert square(2).result(TIMEOUT) == 4
    assert CALLS == [2]


class Gone:
    pass


@python_app(cache=True)
def make_gone():
    return Gone()


def test_a_result_that_cannot_be_loaded_any_more(run_dir, monkeypatch):
    with parlay.load(Config(run_dir=run_dir, checkpoint_mode="dfk_exit")):
        make_gone().result(TIMEOUT)
    [directory] = get_all_checkpoints(run_dir)
    monkeypatch.delitem(globals(), "Gone")  # as if its module had changed since
    cannot = r"holds a result that cannot be loaded \(at byte \d+: AttributeError"
    with pytest.raises(BadCheckpoint, match=cannot) as info:
        load_checkpoint(directory)
    assert info.value.__cause__ is None and info.value.__suppress_context__, "no traceback from the unpickler"


def test_files_that_are_not_checkpoints(tmp_path):
    with pytest.raises(BadCheckpoint, match=f"cannot read checkpoint {tmp_path}/nowhere/tasks.pkl: No such file"):
        load_checkpoint(str(tmp_path / "nowhere"))
    (tmp_path / "tasks.pkl").write_bytes(b"\x80\x05garbage")
    with pytest.raises(BadCheckpoint, match=f"{tmp_path}/tasks.pkl is not a parlay checkpoint; delete {tmp_path}"):
        load_checkpoint(str(tmp_path))


def test_a_checkpoint_that_cannot_be_written_warns_once_and_the_run_goes_on(run_dir):
    """Its results are kept, and written by the first checkpoint that can."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with parlay.load(Config(run_dir=run_dir, checkpoint_mode="task_exit")) as dfk:
            blocked = dfk.memoizer.checkpoint_dir
            Path(blocked).write_text("a file where the checkpoint folder goes")
            assert [square(n).result(TIMEOUT) for n in range(3)] == [0, 1, 4]
            os.unlink(blocked)
    assert [str(w.message) for w in caught] == [
        f"cannot write the checkpoint {blocked}/tasks.pkl ([Errno 17] File exists: '{blocked}'); the run goes on, "
        "and the next checkpoint tries again"
    ], "one warning for three failed checkpoints"
    assert sorted(load_checkpoint(blocked).values()) == [0, 1, 4]


def test_no_checkpoints_yet(tmp_path):
    assert get_all_checkpoints(str(tmp_path / "runinfo")) == []
    assert get_last_checkpoint(str(tmp_path / "runinfo")) == []
