"""Run untrusted Python programs so that they cannot fool the score or harm the machine.

    from starcoder.eval.sandbox import Sandbox, SandboxConfig
    result = Sandbox(SandboxConfig(timeout=3.0)).run(program_source)
    result.passed, result.result      # True, "passed"  /  False, "failed: AssertionError" / "timed out"

Every program gets its own fresh interpreter (``python -I``) in a new session, started by a
trusted launcher (`_launcher.py`) that applies namespaces, mounts, rlimits and a dropped uid,
and a trusted runner (`_runner.py`) that prints a one-time random token only after the program
returned normally. A run passes only when the parent sees that token; exit codes never count.
On timeout the whole process group is killed; the program's own descendants live in its pid
namespace (when available) and die with it. docs/eval.md describes each layer and its fallback.
"""
from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_LAUNCHER = str(_HERE / "_launcher.py")
_RUNNER_SOURCE = (_HERE / "_runner.py").read_text()
_REPORT_LIMIT = 64 * 1024
_UID_BASE, _UID_SPAN = 1_200_000, 1_000_000  # unprivileged uids with no passwd entry


@dataclass(frozen=True)
class SandboxConfig:
    """Limits of one sandboxed run. `timeout` is wall-clock seconds for the program itself."""

    timeout: float = 3.0
    memory_bytes: int = 2 * 1024**3       # address space (RLIMIT_AS)
    file_size_bytes: int = 16 * 1024**2   # largest file it may write (RLIMIT_FSIZE)
    workdir_bytes: int = 64 * 1024**2     # size of its tmpfs working directory (with a mount namespace)
    processes: int = 16                   # processes + threads of the sandbox uid (RLIMIT_NPROC)
    open_files: int = 64                  # RLIMIT_NOFILE
    isolation: str = "auto"               # "auto": every layer the kernel allows; "strict": fail without
                                          # network/pid/mount namespaces; "none": no namespaces
    python: str = field(default_factory=lambda: sys.executable)
    startup_allowance: float = 10.0       # most wall time for interpreter start-up (timeout counts after it)

    def __post_init__(self):
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, got {self.timeout}")
        if self.isolation not in ("auto", "strict", "none"):
            raise ValueError(f"isolation must be 'auto', 'strict' or 'none', got {self.isolation!r}")


@dataclass(frozen=True)
class ExecResult:
    passed: bool
    result: str            # "passed", "failed: <Exception>[: message]", "timed out"
    seconds: float
    isolation: tuple[str, ...] = ()


_PROBE = ("import json, os, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, "
          "sys.base_exec_prefix, os.path.dirname(os.path.realpath(sys.executable)), *sys.path]))")


def _python_dirs(python: str) -> list[str]:
    """Directories the sandbox's interpreter needs (prefixes, bin directory, its `-I` sys.path)."""
    try:
        found = json.loads(subprocess.run([python, "-I", "-c", _PROBE], capture_output=True, text=True,
                                          timeout=60, check=True).stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        raise ValueError(f"cannot run the sandbox interpreter {python!r} ({e}); pass a working Python "
                         f"(SandboxConfig.python)") from None
    found.append(os.path.dirname(os.path.abspath(python)))
    return sorted({os.path.realpath(p) for p in found if p and os.path.isdir(p)})


class Sandbox:
    """Runs programs one at a time per call; `run` is thread-safe, so a thread pool runs many."""

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self._python_dirs = _python_dirs(self.config.python)

    def run(self, program: str) -> ExecResult:
        cfg = self.config
        start = time.monotonic()
        workdir = tempfile.mkdtemp(prefix="starcoder-sandbox-")
        try:
            with open(os.path.join(workdir, "program.py"), "w", encoding="utf-8") as f:
                f.write(program)
            os.chmod(workdir, 0o755)
            token = secrets.token_hex(16)
            report, isolation, timed_out = self._launch(workdir, token)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        seconds = time.monotonic() - start
        passed, result = _judge(report, token, timed_out)
        return ExecResult(passed, result, seconds, isolation)

    def _launch(self, workdir: str, token: str) -> tuple[list[str], tuple[str, ...], bool]:
        cfg = self.config
        launcher_cfg = {
            "workdir": workdir, "python": cfg.python, "runner": _RUNNER_SOURCE,
            "python_dirs": self._python_dirs, "isolation": cfg.isolation,
            "uid": _UID_BASE + secrets.randbelow(_UID_SPAN), "workdir_bytes": cfg.workdir_bytes,
            "limits": {"cpu_s": int(cfg.timeout) + 2, "memory": cfg.memory_bytes,
                       "file_size": cfg.file_size_bytes, "open_files": cfg.open_files,
                       "processes": cfg.processes},
        }
        proc = subprocess.Popen(
            [cfg.python, "-I", "-S", _LAUNCHER, json.dumps(launcher_cfg)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
        try:
            proc.stdin.write((token + "\n").encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        deadline = time.monotonic() + cfg.timeout + cfg.startup_allowance
        data, timed_out = _read_until(proc, deadline, cfg.timeout)
        lines = data.decode("utf-8", "replace").splitlines()
        isolation, child = _launcher_lines(lines)
        _finish(proc, child if timed_out else None)
        proc.stdout.close()
        return lines[2:] if child is not None else lines, isolation, timed_out


def _read_until(proc: subprocess.Popen, deadline: float, timeout: float) -> tuple[bytes, bool]:
    """Read the report pipe until the launcher exits or time runs out; keep at most 64 KiB.

    `deadline` covers interpreter start-up; once the runner says "started" (just before the
    program runs) the program gets exactly `timeout` seconds from that moment.
    """
    fd = proc.stdout.fileno()
    chunks, kept, started = [], 0, False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), True
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:  # every writer closed: launcher and program are gone
                _wait_exited(proc, None)
                return b"".join(chunks), False
            if kept < _REPORT_LIMIT:
                chunks.append(chunk[: _REPORT_LIMIT - kept])
                kept += len(chunks[-1])
            if not started and b"\nstarted\n" in b"".join(chunks):
                started = True
                deadline = min(deadline, time.monotonic() + timeout)
        elif _wait_exited(proc, 0):
            return b"".join(chunks), False


def _launcher_lines(lines: list[str]) -> tuple[tuple[str, ...], int | None]:
    """Isolation and program pid from the launcher's first two lines (written before the program
    may run, so the program cannot forge them)."""
    try:
        return tuple(json.loads(lines[0])["isolation"]), int(json.loads(lines[1])["child"])
    except (IndexError, ValueError, KeyError, TypeError):
        try:
            return tuple(json.loads(lines[0])["isolation"]), None
        except (IndexError, ValueError, KeyError, TypeError):
            return (), None


def _wait_exited(proc: subprocess.Popen, seconds: float | None) -> bool:
    """Wait (None: for ever) until the launcher has exited, without reaping it: while it is an
    unreaped zombie its pid, and so its process group id, cannot be reused."""
    end = None if seconds is None else time.monotonic() + seconds
    while True:
        try:
            flags = os.WEXITED | os.WNOWAIT | (0 if end is None else os.WNOHANG)
            if os.waitid(os.P_PID, proc.pid, flags) is not None:
                return True
        except ChildProcessError:  # already reaped
            return True
        if end is None or time.monotonic() >= end:
            return False
        time.sleep(0.01)


def _finish(proc: subprocess.Popen, child: int | None) -> None:
    """End a run. On timeout (`child` given) kill the program: as init of its pid namespace its
    death takes every sandbox process with it, and the launcher exits once it has reaped it.
    Then kill whatever is left in the launcher's process group (e.g. without namespaces) and reap."""
    if child is not None and not _wait_exited(proc, 0):  # a live launcher has not reaped it yet
        try:
            os.kill(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _wait_exited(proc, 10.0)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _judge(report: list[str], token: str, timed_out: bool) -> tuple[bool, str]:
    if f"passed {token}" in report:
        return True, "passed"
    if timed_out:
        return False, "timed out"
    failures = [line for line in report if line.startswith("failed: ")]
    if failures:
        return False, failures[0]
    status = {}
    for line in reversed(report):
        try:
            status = json.loads(line)
            break
        except ValueError:
            continue
    if "signal" in status:
        sig = status["signal"]
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if name in ("SIGXCPU", "SIGKILL"):
            return False, "timed out"
        return False, f"failed: killed by {name}"
    return False, f"failed: exited with code {status.get('exit', '?')} before the tests finished"
