"""Sandbox launcher: the trusted first stage of every sandboxed run (stdlib only).

Run by `starcoder.eval.sandbox` as ``python -I -S _launcher.py CONFIG_JSON`` in a new session,
with the working directory already created. It isolates what the kernel allows, then forks the
program's interpreter (which becomes pid 1 of a fresh pid namespace when one is available) and
waits for it:

1. namespaces: as root ``unshare(NEWNS|NEWNET|NEWPID)``; otherwise an unprivileged user
   namespace with the same three; if neither works, none (the caller is told which);
2. mounts (with a mount namespace): every mount read-only, a size-limited tmpfs owned by the
   sandbox user as the working directory, a fresh /proc that shows only the sandbox's processes,
   and, when the program runs under a dropped uid, the interpreter's directories made reachable;
3. in the child: rlimits (CPU, address space, file size, processes, open files, no core),
   a fresh unprivileged uid/gid when started as root, no-new-privileges, death with the launcher,
   then ``execve`` of the runner with a scrubbed environment.

Its first two lines on stdout are JSON, ``{"isolation": [...]}`` and ``{"child": PID}`` (the
program's pid, written before the program may start), and its last ``{"exit": N}`` or
``{"signal": N}``.
"""
import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MOUNT_ATTR_RDONLY, AT_RECURSIVE, SYS_MOUNT_SETATTR = 0x1, 0x8000, 442  # x86-64 and arm64 share 442
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

libc = ctypes.CDLL(None, use_errno=True)


class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(src, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    _check(libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def mount_setattr(path, recursive, attr_set=0, attr_clr=0):
    attr = MountAttr(attr_set, attr_clr, 0, 0)
    rc = libc.syscall(SYS_MOUNT_SETATTR, -100, os.fsencode(path), AT_RECURSIVE if recursive else 0,
                      ctypes.byref(attr), ctypes.sizeof(attr))
    _check(rc, f"mount_setattr {path}")


def read_only_everywhere(except_path):
    """Every mount read-only (for this namespace only), except the working directory's tmpfs."""
    try:
        mount_setattr("/", True, attr_set=MOUNT_ATTR_RDONLY)
    except OSError:  # kernels before 5.12: remount mount by mount
        for line in open("/proc/self/mountinfo"):
            point = line.split()[4].encode().decode("unicode_escape")
            try:
                mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            except OSError:
                pass
    try:
        mount_setattr(except_path, False, attr_clr=MOUNT_ATTR_RDONLY)
    except OSError:
        mount(None, except_path, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)


def _others_can_enter(path):
    st = os.stat(path)
    return bool(st.st_mode & 0o001)


def expose_for_uid(paths):
    """Make directories that the sandbox uid cannot reach (e.g. an interpreter under /root)
    reachable: over the topmost closed ancestor mount a tmpfs that holds only bind mounts of them.
    Nothing else under that ancestor becomes visible."""
    closed = {}
    for p in sorted(set(paths)):
        if not os.path.isdir(p):
            continue
        parts = p.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            anc = "/" + "/".join(parts[:i])
            if not _others_can_enter(anc):
                if anc != p:  # the needed dir itself closed: nothing sensible to do
                    closed.setdefault(anc, []).append(p)
                break
    for anc, inner in closed.items():
        fds = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in inner]
        mount("tmpfs", anc, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
        for p, fd in fds:
            os.makedirs(p, mode=0o755, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC)
            os.close(fd)


def enter_namespaces(cfg):
    """Unshare what the kernel allows; return the names of the namespaces entered."""
    if cfg["isolation"] == "none":
        return []
    if os.geteuid() == 0:
        try:
            libc.unshare.argtypes = [ctypes.c_int]
            _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID), "unshare")
            return ["mount", "net", "pid"]
        except OSError:
            pass
    uid, gid = os.getuid(), os.getgid()
    try:
        _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID), "unshare")
    except OSError:
        return []
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")
    return ["user", "mount", "net", "pid"]


def set_limits(lim):
    for name, value in (("RLIMIT_CORE", 0), ("RLIMIT_CPU", lim["cpu_s"]), ("RLIMIT_AS", lim["memory"]),
                        ("RLIMIT_FSIZE", lim["file_size"]), ("RLIMIT_NOFILE", lim["open_files"]),
                        ("RLIMIT_NPROC", lim["processes"])):
        resource.setrlimit(getattr(resource, name), (value, value))


def child(cfg, ns, sandbox_uid):
    workdir = cfg["workdir"]
    if "pid" in ns and "mount" in ns:
        try:
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except OSError:
            pass
    os.chdir(workdir)
    lim = dict(cfg["limits"])
    if sandbox_uid is None and lim["processes"] is not None:
        # the limit counts every process of the real uid: allow ours on top of what runs now
        mine = sum(1 for d in os.listdir("/proc") if d.isdigit() and _owned(d, os.getuid()))
        lim["processes"] += mine
    if sandbox_uid is not None:
        os.setgroups([])
        os.setgid(sandbox_uid)
        os.setuid(sandbox_uid)
    set_limits(lim)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid: a uid change clears it
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
           "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}
    py = cfg["python"]
    try:
        os.execve(py, [py, "-I", "-c", cfg["runner"]], env)
    except OSError as e:
        os.write(1, (f"failed: SandboxError: cannot start {py} as the sandbox user ({e.strerror}); "
                     "allow namespaces or use an interpreter every user can read\n").encode())


def _owned(pid, uid):
    try:
        return os.stat(f"/proc/{pid}").st_uid == uid
    except OSError:
        return False


def main():
    cfg = json.loads(sys.argv[1])
    workdir = cfg["workdir"]
    with open(os.path.join(workdir, "program.py"), "rb") as f:
        program = f.read()
    ns = enter_namespaces(cfg)
    sandbox_uid = cfg["uid"] if os.geteuid() == 0 else None
    isolation = list(ns)
    if "mount" in ns:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        owner = sandbox_uid if sandbox_uid is not None else os.getuid()
        mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV,
              f"mode=0700,uid={owner},gid={owner},size={cfg['workdir_bytes']}")
        if sandbox_uid is not None:
            expose_for_uid(cfg["python_dirs"])
        read_only_everywhere(workdir)
        isolation.append("read-only-fs")
    elif sandbox_uid is not None:
        os.chown(workdir, sandbox_uid, sandbox_uid)
    path = os.path.join(workdir, "program.py")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(program)
    if sandbox_uid is not None:
        isolation.append("uid")
    os.write(1, (json.dumps({"isolation": isolation}) + "\n").encode())
    if cfg["isolation"] == "strict" and not {"net", "pid", "mount"} <= set(ns):
        os.write(1, b"failed: SandboxError: --isolation strict needs network, pid and mount namespaces, "
                    b"which this kernel or user may not create; run as root or enable unprivileged "
                    b"user namespaces (sysctl kernel.unprivileged_userns_clone=1)\n")
        os._exit(0)
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(go_w)
            os.read(go_r, 1)  # wait until the parent has reported our pid: its line comes first
            os.close(go_r)
            child(cfg, ns, sandbox_uid)
        except BaseException as e:  # noqa: BLE001
            os.write(1, f"failed: SandboxError: preparing the program failed: {type(e).__name__}: {e}\n".encode())
        finally:
            os._exit(127)
    # the caller kills this pid on timeout: as init of the pid namespace its death takes every
    # process of the sandbox with it, and our waitpid returns only once they are all gone
    os.write(1, (json.dumps({"child": pid}) + "\n").encode())
    os.close(go_r)
    os.write(go_w, b"x")
    os.close(go_w)
    _, status = os.waitpid(pid, 0)
    report = {"exit": os.WEXITSTATUS(status)} if os.WIFEXITED(status) else {"signal": os.WTERMSIG(status)}
    os.write(1, (json.dumps(report) + "\n").encode())
    os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except BaseException as e:  # noqa: BLE001 - say why instead of dying silently
        os.write(1, f"\nfailed: SandboxError: the launcher failed: {type(e).__name__}: {e}\n".encode())
        os._exit(1)
