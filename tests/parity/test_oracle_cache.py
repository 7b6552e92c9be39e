"""The parity cache under concurrent test runs: two processes asking for the same oracle output run the oracle
script once (the other waits on the lock and reuses it), and nobody ever sees a half-written output folder."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

SLOW_ORACLE = """
import sys, time
from pathlib import Path
out = Path(sys.argv[1])
with open(out.parent / "runs.log", "a") as log:  # out is a temporary folder inside parity/
    log.write("ran\\n")
out.mkdir(parents=True, exist_ok=True)
(out / "part1").write_text("1")
time.sleep(1.5)  # long enough for the other process to find the lock taken
(out / "part2").write_text("2")
"""

CLIENT = """
import sys
from pathlib import Path
sys.path.insert(0, {here!r})
import oracle_runner
oracle_runner.oracle_python = lambda: Path(sys.executable)  # no venv needed: the 'oracle' is plain Python
out = oracle_runner.run_cached(Path({script!r}), "fake")
print(out, sorted(p.name for p in out.iterdir()))
"""


def test_two_concurrent_runs_compute_once_and_both_get_the_complete_output(tmp_path):
    script = tmp_path / "slow_oracle.py"
    script.write_text(SLOW_ORACLE)
    client = textwrap.dedent(CLIENT.format(here=str(HERE), script=str(script)))
    env = {"MSXR_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, "-c", client], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    outputs = {out for out, _ in results}
    assert len(outputs) == 1  # the same folder
    assert outputs.pop().strip().endswith("['DONE', 'part1', 'part2']")
    parity = tmp_path / "cache" / "parity"
    assert (parity / "runs.log").read_text() == "ran\n"  # the script ran once
    assert sorted(p.name for p in parity.iterdir() if p.is_dir()) == [next(parity.glob("fake-*")).name]
