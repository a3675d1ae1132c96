"""Sandbox runner: the in-process second stage, run as ``python -I -c <this source>``.

It reads the one-time token from stdin, hides it, runs ``program.py`` (prompt + completion +
tests + ``check(...)``) with exec, and only when exec returns normally asks its audit hook to
write the token to the report pipe. What keeps the program from printing the token itself:

- the token lives only in the audit hook's closure; the hook object is unreachable (no API lists
  audit hooks) and the hook refuses gc.get_objects/get_referrers/get_referents, importing ctypes
  (arbitrary memory access), tracing and profiling (which could rewrite the runner's frame), and
  opening any /proc/*/mem;
- the hook writes the token only when the event comes from the runner's own frame, which reaches
  that line only after exec returned: an exception (SystemExit included) never gets there;
- the process is made non-dumpable, so child processes cannot read its memory either;
- stdin/stdout/stderr of the program are /dev/null; the report pipe is a private descriptor.

This file must not import anything from the package: it runs inside the sandbox.
"""


def _protect(token, report_fd, runner_frame):
    import os
    import sys

    getframe, write, realpath, fsdecode = sys._getframe, os.write, os.path.realpath, os.fsdecode
    refused = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.settrace",
                         "sys.setprofile", "sys._current_frames", "sys._current_exceptions"})
    state = {"done": False}

    def hook(event, args):
        if event == "starcoder.sandbox.done":
            if getframe(1) is runner_frame and not state["done"]:
                state["done"] = True
                write(report_fd, ("passed " + token + "\n").encode())
            return
        if event in refused:
            raise RuntimeError(f"sandbox: {event} is not allowed")
        if event.startswith("ctypes.") or (event == "import" and args and isinstance(args[0], str)
                                           and args[0].partition(".")[0] in ("ctypes", "_ctypes")):
            # arbitrary memory access; ImportError lets libraries that can do without it (numpy) load
            raise ImportError("sandbox: ctypes is not available")
        if event.startswith("socket."):
            raise PermissionError(f"sandbox: no network ({event})")
        if event == "open" and args and isinstance(args[0], (str, bytes)):
            path = realpath(fsdecode(args[0]))
            if path.startswith("/proc/") and path.rsplit("/", 1)[-1] in ("mem", "environ", "map_files"):
                raise RuntimeError("sandbox: reading process memory or environments is not allowed")

    sys.addaudithook(hook)


def _no_dump():
    import ctypes
    import sys

    libc = ctypes.CDLL(None)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no /proc/<pid>/mem or ptrace by our own uid
    del libc
    for name in [m for m in sys.modules if m == "ctypes" or m.startswith(("ctypes.", "_ctypes"))]:
        del sys.modules[name]


def _main():
    import os
    import sys

    me = sys._getframe()
    audit, write, exit_, exec_, compile_ = sys.audit, os.write, os._exit, exec, compile
    protect, no_dump = _protect, _no_dump
    for name in ("_protect", "_no_dump", "_main"):  # nothing of the runner stays reachable by name
        del globals()[name]
    token = b""
    while True:  # the parent writes the token and closes the pipe
        chunk = os.read(0, 256)
        if not chunk:
            break
        token += chunk
    null = os.open(os.devnull, os.O_RDWR)
    report = os.dup(1)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    try:
        no_dump()
    except Exception:
        pass
    protect(token.decode().strip(), report, me)
    del token
    write(report, b"started\n")
    try:
        with open("program.py", encoding="utf-8") as f:
            code = compile_(f.read(), "program.py", "exec")
        exec_(code, {})
    except BaseException as e:  # noqa: BLE001 - every way out but a normal return is a failure
        try:
            name, msg = type(e).__name__, str(e)
        except BaseException:  # noqa: BLE001
            name, msg = "Exception", ""
        msg = msg.replace("\n", " ")[:200]
        write(report, (f"failed: {name}" + (f": {msg}" if msg else "") + "\n").encode("utf-8", "replace"))
        exit_(1)
    audit("starcoder.sandbox.done")
    exit_(0)


_main()
