"""The rule that a test not marked slow starts no process and does not wait is checked (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import LONGEST_FAST_SLEEP, guard_fast_tests


@pytest.mark.slow  # starts processes, on purpose: it checks that they are seen
def test_the_guard_sees_a_subprocess_a_fork_and_a_sleep_but_not_a_moment():
    with guard_fast_tests() as starts:
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        time.sleep(LONGEST_FAST_SLEEP / 10)  # a moment: allowed
    assert starts == ["starts a process (subprocess)"]
    with guard_fast_tests() as starts:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(LONGEST_FAST_SLEEP * 2)
    assert starts == ["forks a process", f"sleeps {LONGEST_FAST_SLEEP * 2:g} s"]
    with guard_fast_tests() as starts:  # another thread's sleep: not this test's (a server left running)
        other = threading.Thread(target=time.sleep, args=(LONGEST_FAST_SLEEP * 2,))
        other.start()
        other.join()
    assert starts == []
    assert subprocess.Popen.__init__.__name__ == "__init__" and time.sleep.__name__ == "sleep"  # restored


def test_a_fast_test_draws_figures_in_its_own_process():
    assert os.environ.get("WHOSEVALUES_FIGURE_WORKERS") == "1"
