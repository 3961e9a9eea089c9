"""Segments on Ray (the optional extra `inrcodec[cluster]`): each segment is one Ray task that runs
segment.fit_segment on its frames and returns its payload; the driver assembles the file in frame
order. `--workers N` starts a local Ray runtime with N workers on this machine; `--ray-address`
(or RAY_ADDRESS) joins an existing cluster, whose workers need inrcodec installed (docs/usage.md,
"Long videos and clusters").

The bytes are the sequential encode's: a task gets the segment's job (its seed comes from the
segment index), the frames and the options, and fit_segment pins the thread count from the
options, so no worker-dependent state enters. A task whose worker dies is retried by Ray
(`max_retries`); a task that fails with an error fails the encode with that error's line. Finished
segments go into the checkpoint as they arrive; Ctrl-C cancels the running tasks and keeps them,
so `--resume` fits only the missing ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .errors import InputError, InrcodecError

EXTRA = "pip install 'inrcodec[cluster]'"
MAX_RETRIES = 3  # attempts after a worker dies
# tests: a folder; a task finding "exit-segment-<index>" there removes it and kills its worker
TEST_EXIT_HOOK = "INRCODEC_TEST_EXIT_HOOK"


def require_ray():
    """The ray module, or a one-line error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise InputError(f"--workers and --ray-address need Ray, which is not installed: {EXTRA}") from None
    return ray


def _fit_task(header, job, frames, options):
    """One segment, on whichever worker Ray chose: (index, payload bytes, fit PSNR, seconds)."""
    hook = os.environ.get(TEST_EXIT_HOOK)
    if hook and os.path.exists(os.path.join(hook, f"exit-segment-{job.index}")):
        os.remove(os.path.join(hook, f"exit-segment-{job.index}"))
        os._exit(1)  # the worker process dies mid-task, as a lost node would
    from .segment import fit_segment, segment_payload

    result = fit_segment(job, frames, header.video_info(), options)
    return job.index, segment_payload(header, result), result.psnr, result.seconds


def _connect(ray, options) -> bool:
    """Join or start Ray; True when this call started it (and must shut it down)."""
    if ray.is_initialized():
        return False
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    try:
        if options.ray_address:
            ray.init(address=options.ray_address, **quiet)
        else:
            import torch

            gpus = torch.cuda.device_count() if options.device != "cpu" else 0
            cpus = options.workers * max(1, int(options.fit.threads)) if not gpus else os.cpu_count()
            ray.init(address="local", num_cpus=cpus, num_gpus=min(gpus, options.workers), **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {options.ray_address}" if options.ray_address else "a local Ray runtime"
        raise InrcodecError(f"cannot start or join {where}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return True


def _failure(ray, error, index: int) -> InrcodecError:
    cause = getattr(error, "cause", None)
    if isinstance(cause, InrcodecError):
        return cause
    if isinstance(error, ray.exceptions.TaskCancelledError):
        return InrcodecError(f"segment {index} was cancelled on Ray")
    what = cause if cause is not None else error
    text = str(what).splitlines()[0] if str(what) else ""
    return InrcodecError(f"segment {index} failed on Ray: {type(what).__name__}{': ' + text if text else ''}")


def fit_on_ray(header, todo, options, done: dict, saver, should_stop: Callable[[], bool], progress,
               finish: Callable) -> None:
    """Fit the segments `todo` yields (job, frames, frames hash) as Ray tasks, at most a few more
    than the cluster runs at once (so a streamed input stays bounded), calling `finish(job,
    frames, hash, payload, fit PSNR)` as each arrives; `done` is what the checkpoint (`saver`)
    keeps. Raises Interrupted on Ctrl-C, after cancelling the running tasks."""
    from .encoder import NO_CHECKPOINT, saved_message
    from .fit.checkpoint import Interrupted

    ray = require_ray()
    started = _connect(ray, options)
    try:
        gpu = options.device != "cpu" and ray.cluster_resources().get("GPU", 0) > 0
        threads = max(1, int(options.fit.threads))
        task = ray.remote(_fit_task).options(num_cpus=0 if gpu else threads, num_gpus=1 if gpu else 0,
                                             max_retries=MAX_RETRIES)
        slots = int(ray.cluster_resources().get("GPU" if gpu else "CPU", 1) // (1 if gpu else threads))
        limit = max(1, slots) + 1  # frames of at most this many segments in the object store at once
        in_flight: dict = {}
        source = iter(todo)
        exhausted = False
        done_steps = sum(progress.segment_steps(i) for i in done)
        last = ""

        def tell() -> None:
            if progress.on_progress:
                of = f"/{progress.segments}" if progress.segments else ""
                status = f"{len(done)}{of} segments, {len(in_flight)} running{last}"
                progress.on_progress(done_steps, progress.total, status)

        tell()
        while not exhausted or in_flight:
            while not exhausted and len(in_flight) < limit:
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                job, frames, digest = item
                in_flight[task.remote(header, job, ray.put(frames), options)] = (job, frames, digest)
            tell()
            if not in_flight:
                break
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.25)
            if should_stop():
                for ref in in_flight:
                    ray.cancel(ref, force=True)
                if saver is None:
                    raise Interrupted(NO_CHECKPOINT)
                saver.save(done, None)
                raise Interrupted(saved_message(saver.path))
            for ref in ready:
                job, frames, digest = in_flight.pop(ref)
                try:
                    _, payload, psnr, _ = ray.get(ref)
                except ray.exceptions.RayError as e:
                    for other in in_flight:
                        ray.cancel(other, force=True)
                    raise _failure(ray, e, job.index) from None
                done_steps += progress.steps(job.frame_count)
                last = f", segment {job.index + 1} {psnr:.2f} dB"
                finish(job, frames, digest, payload, psnr)
        tell()
    finally:
        if started:
            ray.shutdown()

