"""Run stages on datatrove's executors: local (processes) or Ray (a local instance when no address).

Slurm works the same way through datatrove's `SlurmPipelineExecutor` (see docs/curate.md).
Completed tasks leave markers in `<logs>/<stage>/completions/`, so a rerun skips them.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

QUIET_ENV = "STARCODER_CURATE_QUIET"  # set: tasks print only errors to the terminal (their log files stay full)


def make_executor(kind: str, pipeline: list, tasks: int, workers: int, logging_dir: Path):
    if kind == "local":
        # forkserver, not fork: workers must not inherit the parent's threads (progress bars) and their locks
        from datatrove.executor import LocalPipelineExecutor

        class _Local(LocalPipelineExecutor):
            def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
                # datatrove prints a task's INFO logs only for local_rank 0 (its only use of local_rank)
                quiet = os.environ.get(QUIET_ENV) == "1"
                try:
                    return super()._run_for_rank(rank, 1 if quiet else local_rank, node_rank)
                finally:
                    if quiet:  # datatrove restores an INFO console handler after each task
                        import sys

                        from loguru import logger
                        logger.remove()
                        logger.add(sys.stderr, level="WARNING")

        return _Local(pipeline, tasks=tasks, workers=max(1, min(workers, tasks)),
                      logging_dir=str(logging_dir), start_method="forkserver")
    if kind == "ray":
        from datatrove.executor.ray import RayPipelineExecutor
        return RayPipelineExecutor(pipeline, tasks=tasks, workers=max(1, min(workers, tasks)),
                                   logging_dir=str(logging_dir), cpus_per_task=1, mem_per_cpu_gb=1)
    raise ValueError(f"unknown executor {kind!r}; use local or ray")


@contextlib.contextmanager
def ray_session(address: str | None, workers: int):
    """Connect to a Ray cluster at `address`, or start (and later stop) a local one."""
    try:
        import ray
    except ImportError:
        raise ImportError("the Ray executor needs ray: pip install 'starcoder[ray]'") from None
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def incomplete_tasks(logging_dir: Path, tasks: int) -> list[int]:
    done = {p.name for p in (logging_dir / "completions").glob("*")} if (logging_dir / "completions").is_dir() else set()
    return [r for r in range(tasks) if f"{r:05d}" not in done]


@contextlib.contextmanager
def task_progress(logging_dir: Path, tasks: int, desc: str, enabled: bool = True):
    """A tqdm bar of a stage's completed tasks, fed by its completion markers (works for any executor)."""
    import threading

    from tqdm import tqdm
    if not enabled:
        yield
        return
    bar = tqdm(total=tasks, desc=desc, unit="task", leave=False)
    stop = threading.Event()

    def poll():
        while not stop.wait(0.5):
            bar.n = tasks - len(incomplete_tasks(logging_dir, tasks))
            bar.refresh()
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        bar.n = tasks - len(incomplete_tasks(logging_dir, tasks))
        bar.close()
