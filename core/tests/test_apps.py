"""The app decorators, reserved keyword arguments, futures, and bash app errors."""

import os

import pytest

import parlay
from parlay import Config, File, bash_app, join_app, python_app
from parlay.apps import BashApp, JoinApp, PythonApp
from parlay.errors import AppTimeout, BadStdStreamFile, BashAppNoReturn, ConfigurationError
from parlay.futures import AppFuture, DataFuture

TIMEOUT = 60


@pytest.fixture
def dfk(run_dir):
    with parlay.load(Config(run_dir=run_dir)) as kernel:
        yield kernel


def test_decorators_with_and_without_parentheses():
    def f():
        return 1

    assert isinstance(python_app(f), PythonApp)
    assert isinstance(python_app()(f), PythonApp)
    assert isinstance(python_app(cache=True)(f), PythonApp)
    assert isinstance(bash_app(f), BashApp)
    assert isinstance(bash_app(executors=["x"])(f), BashApp)
    assert isinstance(join_app(f), JoinApp)
    assert python_app(f).__name__ == "f"
    assert python_app(f).__wrapped__ is f


def test_executors_option_is_checked():
    with pytest.raises(ConfigurationError, match="expected 'all' or a list of executor labels"):
        python_app(executors="threads")(lambda: 1)


def test_reserved_keywords_reach_only_functions_that_declare_them(dfk, tmp_path):
    @python_app
    def plain(x):
        return x

    @python_app
    def wants_inputs(inputs=()):
        return len(inputs)

    @python_app
    def takes_anything(**kwargs):
        return sorted(kwargs)

    assert plain(1, walltime=30, inputs=[1], parsl_resource_specification={}).result(TIMEOUT) == 1
    assert wants_inputs(inputs=[1, 2]).result(TIMEOUT) == 2
    assert takes_anything(inputs=[], other=1).result(TIMEOUT) == ["inputs", "other"]


def test_signature_defaults_of_reserved_keywords_apply(dfk):
    @python_app
    def slow(walltime=0.2):
        import time

        while True:
            time.sleep(0.01)

    with pytest.raises(AppTimeout, match=r"walltime of 0\.2 s"):
        slow().result(TIMEOUT)


def test_resource_specification_alias(dfk):
    @python_app
    def f():
        return 1

    with pytest.raises(parlay.errors.InvalidResourceSpecification):
        f(resource_specification={"priority": 1}).result(TIMEOUT)


def test_future_attributes(dfk, tmp_path):
    @python_app
    def make(outputs=()):
        for f in outputs:
            open(f, "w").close()
        return "made"

    out = str(tmp_path / "o.txt")
    future = make(outputs=[out])
    assert isinstance(future, AppFuture)
    assert isinstance(future.tid, int)
    assert future.result(TIMEOUT) == "made"
    [data] = future.outputs
    assert isinstance(data, DataFuture)
    assert data.result(TIMEOUT) == File(out)
    assert data.filepath == out
    assert data.filename == "o.txt"
    assert data.tid == future.tid
    assert os.fspath(data) == out
    assert not data.cancel()
    with pytest.raises(AttributeError):
        future._private
    assert f"task {future.tid}" in repr(future)


def test_bash_app_that_returns_nothing(dfk):
    @bash_app
    def forgetful():
        pass

    @bash_app
    def numeric():
        return 42

    with pytest.raises(BashAppNoReturn, match="returned None"):
        forgetful().result(TIMEOUT)
    with pytest.raises(BashAppNoReturn, match="not int"):
        numeric().result(TIMEOUT)


def test_bad_stream_specification(dfk, tmp_path):
    @bash_app
    def echo(stdout=None):
        return "echo hi"

    with pytest.raises(BadStdStreamFile, match="mode 'w' or 'a'"):
        echo(stdout=(str(tmp_path / "x"), "r")).result(TIMEOUT)
    with pytest.raises(BadStdStreamFile, match="expected a path"):
        echo(stdout=3.5).result(TIMEOUT)
    (tmp_path / "file").write_text("")
    with pytest.raises(BadStdStreamFile, match="cannot open for writing"):
        echo(stdout=str(tmp_path / "file" / "below")).result(TIMEOUT)


def test_stream_modes_and_files(dfk, tmp_path):
    @bash_app
    def echo(word, stdout=None):
        return f"echo {word}"

    path = str(tmp_path / "log.txt")
    echo("one", stdout=path).result(TIMEOUT)
    echo("two", stdout=path).result(TIMEOUT)
    assert open(path).read() == "one\ntwo\n"
    echo("three", stdout=(path, "w")).result(TIMEOUT)
    assert open(path).read() == "three\n"
    echo("four", stdout=File(path)).result(TIMEOUT)
    assert open(path).read() == "three\nfour\n"


def test_std_autopath(run_dir, tmp_path):
    @bash_app
    def echo(stdout=None):
        return "echo routed"

    def route(record, stream):
        return str(tmp_path / f"{record.func_name}-{record.id}.{stream}")

    with parlay.load(Config(run_dir=run_dir, std_autopath=route)):
        future = echo(stdout=parlay.AUTO_LOGNAME)
        future.result(TIMEOUT)
    assert future.stdout == str(tmp_path / f"echo-{future.tid}.stdout")
    assert open(future.stdout).read() == "routed\n"


def test_label_names_the_auto_log_files(dfk):
    @bash_app
    def echo(word, stdout=None, stderr=None, label="default"):
        return f"echo {word}"

    @bash_app
    def quiet(stdout=None):
        return "echo quiet"

    labelled = echo("hi", stdout=parlay.AUTO_LOGNAME, stderr=parlay.AUTO_LOGNAME, label="step-1")
    defaulted = echo("ho", stdout=parlay.AUTO_LOGNAME)
    unlabelled = quiet(stdout=parlay.AUTO_LOGNAME)
    for future in (labelled, defaulted, unlabelled):
        future.result(TIMEOUT)
    logs = os.path.join(dfk.run_dir, "task_logs", "0000")
    assert labelled.stdout == os.path.join(logs, f"task_{labelled.tid:04d}_echo_step-1.stdout")
    assert labelled.stderr == os.path.join(logs, f"task_{labelled.tid:04d}_echo_step-1.stderr")
    assert open(labelled.stdout).read() == "hi\n"
    assert defaulted.stdout == os.path.join(logs, f"task_{defaulted.tid:04d}_echo_default.stdout")
    assert unlabelled.stdout == os.path.join(logs, f"task_{unlabelled.tid:04d}_quiet.stdout")


def test_label_reaches_only_functions_that_declare_it(dfk):
    @python_app
    def named(label=None):
        return label

    @python_app
    def plain():
        return "plain"

    assert named(label="step-1").result(TIMEOUT) == "step-1"
    assert plain(label="step-1").result(TIMEOUT) == "plain"


def test_join_app_must_return_futures(dfk):
    @join_app
    def wrong():
        return 5

    with pytest.raises(TypeError, match="must return a Future or a list of Futures, not 5"):
        wrong().result(TIMEOUT)


def test_join_app_empty_list(dfk):
    @join_app
    def nothing():
        return []

    assert nothing().result(TIMEOUT) == []
