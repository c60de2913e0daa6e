"""The monitoring database: Parsl's tables and columns (`workflow`, `task`, `try`, `status`, `block`, `node`,
`resource`), so that Parsl users' queries and notebooks work on it, plus what parlay records beyond them in
columns of its own: each time also as seconds since the epoch (`*_unix`, what the dashboard aggregates,
portable across databases and fast), a task's executor, current state and failure, and a try's failure.

Indexes serve the dashboard's queries, which always select one run.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

metadata = MetaData()

workflow = Table(
    "workflow",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("workflow_name", Text),
    Column("workflow_version", Text),
    Column("time_began", DateTime, nullable=False),
    Column("time_completed", DateTime),
    Column("host", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("rundir", Text, nullable=False),
    Column("tasks_failed_count", Integer, nullable=False),
    Column("tasks_completed_count", Integer, nullable=False),
    # parlay's own
    Column("time_began_unix", Float),
    Column("time_completed_unix", Float),
    Column("task_counts", Text),  # JSON: final state name -> count, once the run has ended
)

task = Table(
    "task",
    metadata,
    Column("task_id", Integer, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("task_depends", Text),  # comma-separated task ids
    Column("task_func_name", Text, nullable=False),
    Column("task_memoize", Text, nullable=False),
    Column("task_hashsum", Text, index=True),
    Column("task_inputs", Text),
    Column("task_outputs", Text),
    Column("task_stdin", Text),
    Column("task_stdout", Text),
    Column("task_stderr", Text),
    Column("task_time_invoked", DateTime),
    Column("task_time_returned", DateTime),
    Column("task_fail_count", Integer, nullable=False),
    Column("task_fail_cost", Float, nullable=False),
    # parlay's own
    Column("parlay_executor", Text),
    Column("parlay_state", Text),  # its latest state
    Column("task_exception", Text),  # type and message of its final failure
    Column("time_invoked_unix", Float),
    Column("time_returned_unix", Float),
    PrimaryKeyConstraint("task_id", "run_id"),
    Index("task_run_state", "run_id", "parlay_state"),
    Index("task_run_app", "run_id", "task_func_name"),
    Index("task_run_returned", "run_id", "time_returned_unix"),
)

try_ = Table(
    "try",
    metadata,
    Column("try_id", Integer, nullable=False),
    Column("task_id", Integer, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("block_id", Text),
    Column("hostname", Text),
    Column("task_executor", Text, nullable=False),
    Column("task_try_time_launched", DateTime),
    Column("task_try_time_running", DateTime),
    Column("task_try_time_returned", DateTime),
    Column("task_fail_history", Text),
    Column("task_joins", Text),
    # parlay's own
    Column("parlay_func_name", Text),
    Column("try_exception", Text),  # type and message of this try's failure
    Column("time_launched_unix", Float),
    Column("time_running_unix", Float),
    Column("time_returned_unix", Float),
    PrimaryKeyConstraint("try_id", "task_id", "run_id"),
    Index("try_run_executor_block", "run_id", "task_executor", "block_id"),
    Index("try_run_running", "run_id", "time_running_unix"),
)

status = Table(
    "status",
    metadata,
    Column("task_id", Integer, nullable=False),
    Column("task_status_name", Text, nullable=False),
    Column("timestamp", DateTime, nullable=False),
    Column("run_id", Text, ForeignKey("workflow.run_id"), nullable=False),
    Column("try_id", Integer, nullable=False),
    # parlay's own
    Column("timestamp_unix", Float),
    PrimaryKeyConstraint("task_id", "run_id", "task_status_name", "timestamp", "try_id"),
    Index("status_run_time", "run_id", "timestamp_unix"),
)

node = Table(
    "node",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Text, nullable=False),
    Column("hostname", Text, nullable=False),
    Column("uid", Text, nullable=False),
    Column("block_id", Text, nullable=False),
    Column("cpu_count", Integer, nullable=False),
    Column("total_memory", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("worker_count", Integer, nullable=False),
    Column("python_v", Text, nullable=False),
    Column("timestamp", DateTime, nullable=False),
    Column("last_heartbeat", DateTime, nullable=False),
    # parlay's own
    Column("executor_label", Text),
    Column("timestamp_unix", Float),
    Index("node_run", "run_id"),
)

block = Table(
    "block",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("executor_label", Text, nullable=False),
    Column("block_id", Text, nullable=False),
    Column("job_id", Text),
    Column("timestamp", DateTime, nullable=False),
    Column("status", Text, nullable=False),
    # parlay's own
    Column("message", Text),
    Column("timestamp_unix", Float),
    PrimaryKeyConstraint("run_id", "block_id", "executor_label", "timestamp"),
)

resource = Table(
    "resource",
    metadata,
    Column("try_id", Integer, nullable=False),
    Column("task_id", Integer, nullable=False),
    Column("run_id", Text, ForeignKey("workflow.run_id"), nullable=False),
    Column("timestamp", DateTime, nullable=False),
    Column("resource_monitoring_interval", Float),
    Column("psutil_process_pid", Integer),
    Column("psutil_process_memory_percent", Float),
    Column("psutil_process_children_count", Float),
    Column("psutil_process_time_user", Float),
    Column("psutil_process_time_system", Float),
    Column("psutil_process_memory_virtual", Float),
    Column("psutil_process_memory_resident", Float),
    Column("psutil_process_disk_read", Float),
    Column("psutil_process_disk_write", Float),
    Column("psutil_process_status", Text),
    Column("psutil_cpu_num", Text),
    Column("psutil_process_num_ctx_switches_voluntary", Float),
    Column("psutil_process_num_ctx_switches_involuntary", Float),
    # parlay's own
    Column("parlay_func_name", Text),
    Column("timestamp_unix", Float),
    PrimaryKeyConstraint("try_id", "task_id", "run_id", "timestamp"),
    Index("resource_run_task", "run_id", "task_id"),
    Index("resource_run_app", "run_id", "parlay_func_name"),
)
