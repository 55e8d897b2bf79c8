"""Run capture of an op or asset step: ``@traced`` observes what the step's body reads and
writes, hashes it, and tells Dagster and OpenLineage.

    @dg.asset
    @traced
    def features(raw: pd.DataFrame) -> None:
        ...                                    # reads and writes files as it always did

While the body runs, tracline's in-process capture records the files it (and any process it
starts) opens — native code's too when the run's processes were started with tracline's
interposer preloaded (``tracline.capture.worker_environment()``). The recipe is the body's own
callable (module, qualified name, source digest). When it ends, before Dagster records the
materialization: each asset's data version becomes the content digest of what the step
wrote, its materialization metadata carries the digest, the files, the GPU cost and the
approval, and the step's START and COMPLETE / FAIL events (a child of the Dagster run) go to
tracline's outbox.

A step of a gated run (one the approval sensor launched) declares the approved GPUs to
capture, and stops every process it started once the run is past its approved time (or
Dagster interrupts it), beside Dagster's own ``dagster/max_runtime``.

Lineage never breaks the step: a failure of capture or emission is logged once and the body
runs as it would without tracline.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import dagster as dg

from tracline.capture import capture_in_process
from tracline.config import Config
from tracline.events import new_run_id, record_facets
from tracline.failsoft import FailSoft, ignoring
from tracline.gating import Claim
from tracline_dagster import _lineage, _tags, compat
from tracline_dagster._limit import TimeLimit
from tracline_dagster._resource import TraclineResource
from tracline_dagster._versions import asset_digest, asset_metadata

__all__ = ["traced"]

log = logging.getLogger("tracline_dagster")
_soft = FailSoft(log, "the step")
F = TypeVar("F", bound=Callable[..., Any])


def _warn_once(key: str, message: str) -> None:
    _soft.warn_once(key, "tracline: %s; the step goes on without lineage", message,
                    exc_info=True)


def _capture_config(config: Config, context: dg.OpExecutionContext) -> Config:
    """tracline's config, with Dagster's own folders never taken for the step's data."""
    return ignoring(config, compat.dagster_folders(context))


class _Step:
    """One step's capture: started before the body, finished before Dagster sees the outputs."""

    def __init__(self, context: Any, resource: TraclineResource, fn: Callable[..., Any]) -> None:
        self.context = compat.op_context(context)
        self.resource = resource
        self.fn = fn
        self.config: Config | None = None
        self.capture: Any = None
        self.facets: dict[str, Any] = {}
        self.limit: TimeLimit | None = None

    def start(self) -> None:
        try:
            claim = _tags.claim_of(self.context.run.tags)
            if claim is not None:
                self.limit = TimeLimit(self.context, claim)
        except Exception as e:  # noqa: BLE001 - Dagster's max_runtime still stops the run
            _warn_once(f"limit:{type(e).__name__}", f"the time limit could not be armed ({e})")
        try:
            self._start()
        except Exception as e:  # noqa: BLE001 - lineage never breaks the step
            self.capture = None
            _warn_once(f"start:{type(e).__name__}", f"capture could not start ({e})")

    def _start(self) -> None:
        config = self.resource.tracline_config()
        if config.disabled:
            return
        ctx = self.context
        tags = ctx.run.tags
        job = compat.job_name(ctx.job_name)
        self.config = config
        self.run_id = new_run_id()
        self.job = f"{job}.{compat.step_key(ctx)}"
        self.parent = _lineage.run_parent(
            config, run_id=_tags.lineage_run_id(ctx.run_id, tags), job_name=job)
        claim = _tags.claim_of(tags)
        if claim is not None:
            self.facets["tracline_approval"] = self._approval(claim)
        _lineage.emit(config, _lineage.step_event(
            "START", config=config, run_id=self.run_id, job_name=self.job, parent=self.parent,
            run_facets=self.facets))
        cm = capture_in_process(
            job=self.job, run_id=self.run_id, function=self.fn,
            gpus=claim.gpu_count if claim else None, gpu_model=claim.gpu_model if claim else None,
            config=_capture_config(config, ctx), emit=False)
        self.capture = (cm, cm.__enter__())

    def _approval(self, claim: Claim) -> Any:
        service = self.resource.requests()
        try:
            return service.approval_facet(claim.request_id)
        finally:
            service.close()

    def finish(self, error: BaseException | None) -> None:
        if self.limit is not None:
            self.limit.end(error)
        if self.capture is None or self.config is None:
            return
        cm, handle = self.capture
        self.capture = None
        try:
            if error is None:
                cm.__exit__(None, None, None)
            else:
                cm.__exit__(type(error), error, error.__traceback__)
            record = handle.record
            facets = {**self.facets, **record_facets(record)}
            if error is None:
                self._tell_dagster(record, facets)
            state = "COMPLETE" if error is None else "FAIL"
            _lineage.emit(self.config, _lineage.step_event(
                state, config=self.config, run_id=self.run_id, job_name=self.job,
                parent=self.parent, record=record, run_facets=self.facets, error=error,
                event_time=record.ended_at))
        except Exception as e:  # noqa: BLE001 - lineage never breaks the step
            _warn_once(f"finish:{type(e).__name__}", f"capture could not finish ({e})")

    def _tell_dagster(self, record: Any, facets: dict[str, Any]) -> None:
        ctx = self.context
        if not ctx.has_assets_def:
            return
        assets = ctx.assets_def
        for key in ctx.selected_asset_keys:
            digest = asset_digest(record, assets.specs_by_key[key].metadata)
            if digest is not None:
                ctx.set_data_version(key, dg.DataVersion(digest))
            compat.add_asset_metadata(ctx, key, asset_metadata(
                digest=digest, record=record, run_facets=facets, lineage_run_id=self.run_id))


def _is_context(parameter: inspect.Parameter) -> bool:
    annotation = parameter.annotation
    names = {"context", "_context", "ctx", "_ctx", "_"}
    if isinstance(annotation, str):
        return parameter.name in names or "Context" in annotation
    return parameter.name in names or (
        isinstance(annotation, type)
        and issubclass(annotation, dg.OpExecutionContext | dg.AssetExecutionContext))


def traced(fn: F | None = None, *, resource_key: str = "tracline") -> Any:
    """Capture the files an ``@asset`` or ``@op`` body reads and writes (put it under the
    Dagster decorator); ``resource_key`` names the :class:`TraclineResource` in Definitions."""
    if fn is None:
        return functools.partial(traced, resource_key=resource_key)
    if inspect.iscoroutinefunction(fn):
        raise dg.DagsterInvalidDefinitionError(
            f"@traced cannot observe the async function {fn.__qualname__}: tracline captures "
            "synchronous op and asset bodies; make it a plain function")
    try:  # annotations as objects, also under `from __future__ import annotations`
        signature = inspect.signature(fn, eval_str=True)
    except (NameError, SyntaxError, TypeError):
        signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    has_context = bool(params) and _is_context(params[0])
    has_resource = resource_key in signature.parameters
    extra = [] if has_context else [inspect.Parameter(
        "context", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    resource_param = inspect.Parameter(resource_key, inspect.Parameter.KEYWORD_ONLY,
                                       annotation=TraclineResource)
    tail = [p for p in params if p.kind == inspect.Parameter.VAR_KEYWORD]
    body = [p for p in params if p.kind != inspect.Parameter.VAR_KEYWORD]
    new_params = extra + body + ([] if has_resource else [resource_param]) + tail

    def arguments(context: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
                  ) -> tuple[TraclineResource, tuple[Any, ...], dict[str, Any]]:
        resource = kwargs[resource_key] if has_resource else kwargs.pop(resource_key)
        return resource, ((context, *args) if has_context else args), kwargs

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(context: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
            resource, args, kwargs = arguments(context, args, kwargs)
            step = _Step(context, resource, fn)
            step.start()
            held = []
            try:
                for item in fn(*args, **kwargs):
                    # Outputs wait until the step's files are hashed: their data versions
                    # and metadata are set when Dagster records them.
                    if isinstance(item, dg.Output | dg.MaterializeResult):
                        held.append(item)
                    else:
                        yield item
            except BaseException:
                step.finish(sys.exc_info()[1])
                raise
            step.finish(None)
            yield from held

        wrapper: Any = generator
    else:
        @functools.wraps(fn)
        def function(context: Any, *args: Any, **kwargs: Any) -> Any:
            resource, args, kwargs = arguments(context, args, kwargs)
            step = _Step(context, resource, fn)
            step.start()
            try:
                result = fn(*args, **kwargs)
            except BaseException:
                step.finish(sys.exc_info()[1])
                raise
            step.finish(None)
            return result

        wrapper = function
    wrapper.__signature__ = signature.replace(parameters=new_params)
    return wrapper
