"""Adversarial programs against the sandbox: each must fail, finish in time, and harm nothing.

Most attacks are written as "the correct solution, plus an attack that raises if it did not
work": a pass would therefore mean the attack succeeded. Real HumanEval problem 0 is the target.
"""
from __future__ import annotations

import os
import socket
import sys
import textwrap
import threading
import time

import psutil
import pytest

from starcoder.eval.humaneval import program_of, read_problems
from starcoder.eval.sandbox import _UID_BASE, _UID_SPAN, Sandbox, SandboxConfig, _judge

TIMEOUT = 1.0
MARGIN = 3.0  # interpreter start-up + kill + clean-up on a loaded 2-core machine

PROBLEM = read_problems()["HumanEval/0"]
SANDBOX = Sandbox(SandboxConfig(timeout=TIMEOUT, memory_bytes=1024**3))


def run(attack: str, with_solution: bool = True):
    body = PROBLEM["canonical_solution"] if with_solution else "    return False\n"
    completion = body + "\n" + textwrap.dedent(attack)
    before = {p.pid for p in psutil.Process().children(recursive=True)}  # other tests' helpers (forkserver, ...)
    start = time.monotonic()
    result = SANDBOX.run(program_of(PROBLEM, completion))
    took = time.monotonic() - start
    assert took <= TIMEOUT + MARGIN, f"took {took:.1f}s"
    assert _no_leftovers(before), "sandbox processes survived the run"
    return result


def _no_leftovers(before: set[int] = frozenset()) -> bool:
    me = psutil.Process()
    for _ in range(3):  # the sandbox waits for its processes to be reaped: nothing may linger
        kids = [p for p in me.children(recursive=True) if p.pid not in before]
        strays = [p for p in psutil.process_iter(["uids"])
                  if p.info["uids"] and _UID_BASE <= p.info["uids"].real < _UID_BASE + _UID_SPAN]
        if not kids and not strays:
            return True
        time.sleep(0.1)
    return False


def test_canonical_passes_and_isolation_is_reported():
    r = run("")
    assert (r.passed, r.result) == (True, "passed")
    if os.geteuid() == 0:
        assert {"net", "pid", "mount", "read-only-fs", "uid"} <= set(r.isolation)


def test_ordinary_library_code_still_works():
    # the refusals must not break what completions legitimately use (numpy loads without ctypes)
    r = run("""
        import collections, threading, typing
        import numpy as np
        assert np.arange(4).sum() == 6
        T = typing.TypeVar("T")
        Point = collections.namedtuple("Point", "x y")
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()
        with open("scratch.txt", "w") as f:  # the working directory is writable
            f.write("ok")
    """)
    assert (r.passed, r.result) == (True, "passed")


def test_wrong_solution_fails_with_the_exception_name():
    r = run("", with_solution=False)
    assert not r.passed and r.result.startswith("failed: AssertionError")


def test_infinite_loop_times_out():
    r = run("while True:\n    pass\n")
    assert (r.passed, r.result) == (False, "timed out")


def test_memory_bomb():
    r = run("x = bytearray(64 * 1024**3)\n")
    assert not r.passed and "MemoryError" in r.result
    r = run("x = []\nwhile True:\n    x.append(' ' * 10**7)\n")
    assert not r.passed


def test_fork_bomb_is_contained_and_reaped():
    r = run("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """)
    assert not r.passed


def test_daemonised_child_does_not_survive():
    r = run("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(60)
            os._exit(0)
        os._exit(0)
    """)
    assert not r.passed  # and run() asserted that no process is left


@pytest.mark.parametrize("exit_code", ["import os; os._exit(0)", "import sys; sys.exit(0)",
                                       "raise SystemExit", "exit()", "import os; os.abort()"])
def test_early_exit_is_a_failure_whatever_the_exit_code(exit_code):
    r = run(exit_code + "\n", with_solution=False)
    assert not r.passed


def test_redefining_check_is_a_failure():
    r = run("""
        import builtins
        def check(candidate):
            pass
        builtins.check = check
    """, with_solution=False)
    assert not r.passed and r.result.startswith("failed: AssertionError")


def test_forged_pass_lines_are_a_failure():
    r = run("""
        import os, secrets
        for fd in range(1, 30):
            try:
                os.write(fd, b"started\\npassed " + secrets.token_hex(16).encode() + b"\\npassed\\n")
            except OSError:
                pass
        os._exit(0)
    """)
    assert not r.passed


def test_stealing_the_token_is_refused():
    # walk every frame and the gc for 32-hex strings, read our own memory, then forge the pass line
    r = run("""
        import gc, os, re, sys
        found = set()
        f = sys._getframe()
        while f is not None:
            for d in (f.f_locals, f.f_globals):
                found.update(v for v in d.values() if isinstance(v, str) and re.fullmatch('[0-9a-f]{32}', v))
            f = f.f_back
        for attempt in (lambda: gc.get_objects(), lambda: open('/proc/self/mem', 'rb'),
                        lambda: open('/proc/1/mem', 'rb'), lambda: __import__('ctypes')):
            try:
                attempt()
                found.add('refusal-missing')
            except Exception:
                pass
        sys.audit("starcoder.sandbox.done")  # the runner's own trigger, from the wrong frame
        for tok in found:
            for fd in range(1, 30):
                try:
                    os.write(fd, ('passed ' + tok + '\\n').encode())
                except OSError:
                    pass
        os._exit(0)
    """)
    assert not r.passed


def test_files_outside_the_workdir_cannot_be_deleted_or_written(tmp_path):
    outside = tmp_path / "shared"
    outside.mkdir()
    outside.chmod(0o777)  # even a world-writable directory must stay untouched
    canary = outside / "canary.txt"
    canary.write_text("intact")
    canary.chmod(0o666)
    r = run(f"""
        import os, shutil
        done = []
        for act in (lambda: os.remove({str(canary)!r}),
                    lambda: open({str(canary)!r}, 'w').write('pwned'),
                    lambda: open({str(outside / 'new.txt')!r}, 'w').write('x'),
                    lambda: open('/tmp/starcoder-sandbox-escape.txt', 'w').write('x'),
                    lambda: shutil.rmtree({str(outside)!r})):
            try:
                act()
                done.append(1)
            except OSError:
                pass
        if not done:
            raise PermissionError('nothing outside could be changed')
    """)
    assert not r.passed and "PermissionError: nothing outside" in r.result
    assert canary.read_text() == "intact"
    assert sorted(p.name for p in outside.iterdir()) == ["canary.txt"]
    assert not os.path.exists("/tmp/starcoder-sandbox-escape.txt")


def test_huge_file_is_stopped_and_removed():
    before = {p for p in os.listdir("/tmp") if p.startswith("starcoder-sandbox-")}
    r = run("""
        with open('big.bin', 'wb') as f:
            for _ in range(2048):
                f.write(b'0' * 1024**2)
    """)
    assert not r.passed
    after = {p for p in os.listdir("/tmp") if p.startswith("starcoder-sandbox-")}
    assert after <= before  # the working directory is gone


def test_no_network_from_python_or_a_child_process():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                pass

    t = threading.Thread(target=serve)
    t.start()
    try:
        r = run(f"""
            import socket, subprocess, sys
            try:
                socket.create_connection(('127.0.0.1', {port}), timeout=0.5)
                reached = True
            except Exception:
                reached = False
            child = subprocess.run([sys.executable, '-c',
                'import socket; socket.create_connection(("127.0.0.1", {port}), timeout=0.5)'],
                capture_output=True)
            if not reached and child.returncode != 0:
                raise ConnectionError('no network')
        """)
    finally:
        stop.set()
        t.join()
        server.close()
    assert not r.passed and "ConnectionError: no network" in r.result
    assert accepted == []


def test_killing_the_parent_or_the_process_group_harms_nobody():
    me = os.getpid()
    r = run(f"""
        import os, signal
        for act in (lambda: os.kill(os.getppid(), signal.SIGKILL), lambda: os.kill({me}, signal.SIGKILL),
                    lambda: os.killpg(os.getpgid(0), signal.SIGKILL), lambda: os.killpg({os.getpgid(0)}, 9),
                    lambda: os.kill(-1, signal.SIGKILL)):
            try:
                act()
            except OSError:
                pass
        raise RuntimeError('still here')
    """)
    assert not r.passed
    assert psutil.pid_exists(me)  # we are still here to assert it; the evaluator keeps working:
    assert run("").passed


def test_environment_of_the_evaluator_is_unreadable(monkeypatch):
    secret = "starcoder-secret-" + os.urandom(8).hex()
    monkeypatch.setenv("STARCODER_TEST_SECRET", secret)
    r = run(f"""
        import os
        seen = [v for v in os.environ.values() if {secret!r} in v]
        for pid in os.listdir('/proc'):
            try:
                with open('/proc/' + pid + '/environ', 'rb') as f:
                    seen += [1] if {secret!r}.encode() in f.read() else []
            except Exception:
                pass
        if not seen:
            raise LookupError('secret not found')
    """)
    assert not r.passed and "LookupError: secret not found" in r.result


def _reachable_by_everyone(path: str) -> bool:
    parts = os.path.realpath(path).split("/")
    dirs = ["/".join(parts[:i]) or "/" for i in range(1, len(parts))]
    return all(os.stat(d).st_mode & 0o001 for d in dirs)


def test_isolation_none_still_needs_the_token():
    # without a mount namespace a dropped uid must be able to reach the interpreter by itself
    python = sys.executable
    if os.geteuid() == 0 and not _reachable_by_everyone(python):
        sb = Sandbox(SandboxConfig(timeout=TIMEOUT, isolation="none", python=python))
        r = sb.run(program_of(PROBLEM, PROBLEM["canonical_solution"]))
        assert not r.passed and "SandboxError: cannot start" in r.result
        python = "/usr/bin/python3"
    sb = Sandbox(SandboxConfig(timeout=TIMEOUT, isolation="none", python=python))
    good = sb.run(program_of(PROBLEM, PROBLEM["canonical_solution"]))
    assert good.passed and "net" not in good.isolation
    assert not sb.run(program_of(PROBLEM, "    import os; os._exit(0)\n")).passed
    assert sb.run(program_of(PROBLEM, "    while True: pass\n")).result == "timed out"


def test_strict_isolation_runs_where_namespaces_exist():
    r = Sandbox(SandboxConfig(timeout=TIMEOUT, isolation="strict")).run(program_of(PROBLEM, PROBLEM["canonical_solution"]))
    assert r.passed and {"net", "pid", "mount"} <= set(r.isolation)
    with pytest.raises(ValueError, match="'auto', 'strict' or 'none'"):
        SandboxConfig(isolation="paranoid")


def test_judge_needs_this_runs_token():
    assert _judge(["passed abc"], "abc", False) == (True, "passed")
    assert _judge(["passed xyz", '{"exit": 0}'], "abc", False)[0] is False
    assert _judge(['{"exit": 0}'], "abc", False)[0] is False
    assert _judge([], "abc", True) == (False, "timed out")


UNPRIVILEGED_PROBE = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("sandbox_probe", sys.argv[1])
sb = importlib.util.module_from_spec(spec); sys.modules["sandbox_probe"] = sb; spec.loader.exec_module(sb)
S = sb.Sandbox(sb.SandboxConfig(timeout=1, python=sys.executable))
out = {}
for name, prog in [("ok", "x = 1"), ("exit", "import os; os._exit(0)"),
                   ("write", "open('/tmp/starcoder-unprivileged-escape', 'w').write('x')"),
                   ("fork", "import os\nwhile True:\n    os.fork()")]:
    r = S.run(prog)
    out[name] = [r.passed, r.result, list(r.isolation)]
print(json.dumps(out))
"""


def test_unprivileged_evaluator_uses_a_user_namespace():
    """Run the evaluator itself as an unprivileged user: isolation then comes from a user namespace."""
    import json
    import shutil
    import subprocess
    import tempfile

    import starcoder.eval.sandbox as sandbox_module

    python = sys.executable if _reachable_by_everyone(sys.executable) else "/usr/bin/python3"
    # copies every user can read (pytest's tmp root is private): sandbox.py beside its launcher and runner
    folder = tempfile.mkdtemp(prefix="starcoder-probe-")
    try:
        os.chmod(folder, 0o755)
        for name in ("sandbox.py", "_launcher.py", "_runner.py"):
            shutil.copy(os.path.join(os.path.dirname(sandbox_module.__file__), name), folder)
        with open(os.path.join(folder, "probe.py"), "w") as f:
            f.write(UNPRIVILEGED_PROBE)
        cmd = [python, os.path.join(folder, "probe.py"), os.path.join(folder, "sandbox.py")]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(folder)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"][:2] == [True, "passed"]
    assert {"user", "net", "pid", "read-only-fs"} <= set(out["ok"][2]), out["ok"]
    assert not out["exit"][0] and not out["write"][0] and not out["fork"][0]
    assert "Read-only file system" in out["write"][1]
    assert not os.path.exists("/tmp/starcoder-unprivileged-escape")


NO_USERNS = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r, w = os.pipe(); r2, w2 = os.pipe()
pid = os.fork()
if pid == 0:
    if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
        os._exit(90)
    os.write(w, b"x"); os.read(r2, 1)
    with open("/proc/sys/user/max_user_namespaces", "w") as f:  # no namespaces below this one
        f.write("0")
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
    os.execv(sys.argv[1], sys.argv[1:])
os.read(r, 1)
for name in ("uid_map", "gid_map"):
    with open(f"/proc/{pid}/{name}", "w") as f:
        f.write("0 0 65536")
os.write(w2, b"x")
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""

NO_NS_PROBE = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("sandbox_probe", sys.argv[1])
sb = importlib.util.module_from_spec(spec); sys.modules["sandbox_probe"] = sb; spec.loader.exec_module(sb)
out = {}
for iso, name, prog in [("auto", "ok", "x = 1"), ("auto", "exit", "import os; os._exit(0)"),
                        ("auto", "loop", "while True: pass"), ("strict", "strict", "x = 1")]:
    r = sb.Sandbox(sb.SandboxConfig(timeout=1, python=sys.executable, isolation=iso)).run(prog)
    out[name] = [r.passed, r.result, list(r.isolation)]
print(json.dumps(out))
"""


def test_without_namespaces_auto_falls_back_and_strict_refuses():
    """An unprivileged evaluator in a user namespace that may not create namespaces: `auto` runs
    with rlimits + token only and says so; `strict` refuses every program."""
    import json
    import shutil
    import subprocess
    import tempfile

    import starcoder.eval.sandbox as sandbox_module

    if os.geteuid() != 0:  # cannot build that situation without root: strict must still be honest
        r = Sandbox(SandboxConfig(timeout=TIMEOUT, isolation="strict")).run("x = 1")
        assert r.passed == ({"net", "pid", "mount"} <= set(r.isolation))
        return
    python = sys.executable if _reachable_by_everyone(sys.executable) else "/usr/bin/python3"
    folder = tempfile.mkdtemp(prefix="starcoder-probe-")
    try:
        os.chmod(folder, 0o755)
        for name in ("sandbox.py", "_launcher.py", "_runner.py"):
            shutil.copy(os.path.join(os.path.dirname(sandbox_module.__file__), name), folder)
        for name, text in (("no_userns.py", NO_USERNS), ("probe.py", NO_NS_PROBE)):
            with open(os.path.join(folder, name), "w") as f:
                f.write(text)
        proc = subprocess.run([sys.executable, os.path.join(folder, "no_userns.py"), python,
                               os.path.join(folder, "probe.py"), os.path.join(folder, "sandbox.py")],
                              capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(folder)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] == [True, "passed", []]
    assert out["exit"][0] is False and out["loop"][:2] == [False, "timed out"]
    assert out["strict"][0] is False and "SandboxError: --isolation strict needs" in out["strict"][1]
