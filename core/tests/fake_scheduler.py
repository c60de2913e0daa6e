"""A tiny batch scheduler for tests: `submit SCRIPT`, `status ID...`, `cancel ID...`, with a JSON state
file named by FAKE_SCHEDULER_STATE. Jobs really run (bash, in a session of their own). FAKE_SCHEDULER_FAIL
makes a command fail, as a broken scheduler would."""

import contextlib
import json
import os
import signal
import subprocess
import sys


def load(path):
    try:
        with open(path) as stream:
            return json.load(stream)
    except FileNotFoundError:
        return {"next": 100, "jobs": {}}


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main(command, *args):
    if os.environ.get("FAKE_SCHEDULER_FAIL") == command:
        print(f"{command}: scheduler is down for maintenance", file=sys.stderr)
        return 1
    path = os.environ["FAKE_SCHEDULER_STATE"]
    state = load(path)
    if command == "submit":
        job_id = str(state["next"])
        state["next"] += 1
        proc = subprocess.Popen(["bash", args[0]], start_new_session=True, stdin=subprocess.DEVNULL)
        state["jobs"][job_id] = {"pid": proc.pid, "state": "R"}
        print(f"Submitted job {job_id}")
    elif command == "status":
        for job_id in args:
            job = state["jobs"].get(job_id)
            if job is None:
                continue
            if job["state"] == "R" and not alive(job["pid"]):
                job["state"] = "CD"
            print(job_id, job["state"])
    elif command == "cancel":
        for job_id in args:
            job = state["jobs"][job_id]
            if job["state"] == "R":
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(job["pid"], signal.SIGKILL)
                job["state"] = "CA"
    with open(path, "w") as stream:
        json.dump(state, stream)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
