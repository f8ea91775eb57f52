"""One study shared by two ``dltrain tune`` processes through a real PostgreSQL server.

The server is started for the test on 127.0.0.1 and a free port, in a temporary data folder,
and stopped afterwards. PostgreSQL refuses to run as root, so as root (CI) it runs as the
``postgres`` user. ``.ci/run`` installs it (apt ``postgresql``); in CI a missing server fails
the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_tune_study import start_tune, trial_runs, write_study_config


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    # Debian keeps the server programs out of PATH.
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        message = "PostgreSQL is not installed (apt-get install -y postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="dltrain-pg-"))
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()

    def run(*args: str) -> None:
        proc = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    run(initdb, "-D", str(data), "-U", "dltrain", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    run(pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "server.log"), "-w", "start")
    try:
        yield f"postgresql://dltrain@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_two_processes_share_one_postgres_study_and_finish_exactly_n_trials(
    tmp_path: Path, regression_csv: Path, postgres_url: str
) -> None:
    import optuna

    config = write_study_config(tmp_path, regression_csv, epochs=2, trials=4)
    storage = ["--storage", postgres_url, "--study", "shared"]
    procs = [start_tune(config, tmp_path / f"runs-{i}", *storage) for i in (0, 1)]
    # Both are waited for before either is judged: a failed first process must not leave
    # the second one's pipes open (their ResourceWarning would fail a later test).
    outputs = [proc.communicate(timeout=900) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out + err

    # SQLAlchemy reads a plain postgresql:// as psycopg 3; dltrain picks psycopg2 itself.
    driver_url = postgres_url.replace("postgresql://", "postgresql+psycopg2://")
    study = optuna.load_study(study_name="shared", storage=driver_url)
    states = [t.state.name for t in study.get_trials()]
    assert states.count("COMPLETE") == 4 and states.count("RUNNING") == 0, states
    numbers = [t.number for t in study.get_trials()]
    assert sorted(numbers) == list(range(len(numbers)))

    # Each process wrote its own trials' folders; together they hold every trial once.
    folders = [trial_runs(tmp_path / f"runs-{i}" / "reg_tune" / "shared") for i in (0, 1)]
    assert folders[0] and folders[1], "both processes ran trials"
    assert not set(folders[0]) & set(folders[1])
    assert sorted([*folders[0], *folders[1]]) == sorted(numbers)
    summary = json.loads((tmp_path / "runs-1" / "reg_tune" / "shared" / "study.json").read_text())
    assert summary["storage"] == postgres_url and summary["trials"]["complete"] == 4
