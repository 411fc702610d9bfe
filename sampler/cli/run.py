"""``mdhmc run``: resolve defaults < preset < flags, run the `Sampler`, report, save."""

from __future__ import annotations

import difflib
import json
import os
import sys

from .. import io
from ..presets import PresetError, builtin, dumps
from ..settings import STAGES, Settings, SettingsError
from .errors import CLIError, one_line
from .interrupts import Interrupts
from .parser import TARGET_DIM_FLAGS, setting_changes, typed_flag
from .progress import Progress
from .report import build_report, format_report, json_dumps

__all__ = ["cmd_run", "resolve_run"]


def _preset_target_path(target: str, preset_path: str) -> str:
    """A relative target file in a preset: as given if it exists, else next to the preset."""
    if (target.endswith(".py") or os.sep in target) and not os.path.isabs(target) and not os.path.exists(target):
        beside = os.path.join(os.path.dirname(os.path.abspath(preset_path)), target)
        if os.path.exists(beside):
            return beside
    return target


def _settings_error(exc, args) -> CLIError:
    """A SettingsError as one line, naming the flag (as typed) when the bad value came from one."""
    msg = one_line(exc)
    flag = typed_flag(args, msg.split(" ", 1)[0])
    return CLIError(f"argument {flag}: {msg}" if flag else msg)


def resolve_run(args):
    """Preset + flags -> (target spec, target_dim, stage, Settings, preset path or None, notes)."""
    preset, preset_path = (None, None)
    if args.preset is not None:
        try:
            preset, preset_path = builtin(args.preset)
        except PresetError as exc:
            raise CLIError(one_line(exc)) from None

    # target and its dimension: the flag wins; the preset's target_dim only goes with its own target
    target_spec, target_dim = args.target, getattr(args, "target_dim", None)
    if target_spec is None and preset is not None and preset.get("target"):
        target_spec = _preset_target_path(preset["target"], preset_path)
        if target_dim is None:
            target_dim = preset.get("target_dim")
    elif target_spec is not None and preset is not None and preset.get("target") == target_spec and target_dim is None:
        target_dim = preset.get("target_dim")
    if target_spec is None:
        raise CLIError("--target is required (a built-in name, see 'mdhmc targets', or a FILE.py)"
                       + (f"; the preset {preset_path} names no target" if preset_path else ""))
    if target_dim is not None and target_dim < 1:
        raise CLIError(f"argument {typed_flag(args, 'target_dim') or TARGET_DIM_FLAGS[0]}: must be >= 1, got {target_dim}")

    stage = args.stage or (preset.get("stage") if preset is not None else None) or "pipeline"
    if stage not in STAGES:
        close = difflib.get_close_matches(stage, STAGES, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise CLIError(f"argument --stage: unknown stage {stage!r}; stages are {', '.join(STAGES)}{hint}")

    base = Settings()
    if preset is not None:
        try:
            base = preset.apply(base)
        except SettingsError as exc:  # validated on load; kept for safety
            raise CLIError(f"{preset_path}: {one_line(exc)}") from None
    changes = setting_changes(args)
    notes = []
    # --sweeps below an inherited warm-up: scale the warm-up down (same 1/4 share as the defaults)
    if "sweeps" in changes and "warmup" not in changes and 0 <= changes["sweeps"] < base.warmup:
        changes["warmup"] = changes["sweeps"] // 4
        notes.append(f"warmup lowered from {base.warmup} to {changes['warmup']} to fit "
                     f"{typed_flag(args, 'sweeps')} {changes['sweeps']}")
    try:
        settings = base.replace(**changes)
    except SettingsError as exc:
        raise _settings_error(exc, args) from None
    return target_spec, target_dim, stage, settings, preset_path, notes


def _load_target(spec: str, dim, args):
    from mdhmc import targets

    try:
        t = targets.resolve(spec, dim)
    except targets.TargetError as exc:
        raise CLIError(one_line(exc)) from None
    if dim is not None and t.dim != dim:
        flag = typed_flag(args, "target_dim") or TARGET_DIM_FLAGS[0]
        raise CLIError(f"argument {flag}: {spec} has dim {t.dim}; {flag} {dim} does not apply")
    return t


def _set_threads(n):
    import numba

    if n is None:
        return numba.get_num_threads()
    hi = int(numba.config.NUMBA_NUM_THREADS)
    if not 1 <= n <= hi:
        raise CLIError(f"argument --threads: must be between 1 and {hi} (this machine's numba threads), got {n}")
    numba.set_num_threads(n)
    return n


def _records_draws(stage: str, s) -> bool:
    if stage == "diffusion":
        return s.diffusion_sweeps > 0
    return s.sweeps > s.warmup


def _check_target(t, stage, settings) -> None:
    """Refuse, before sampling, a stage or setting this target cannot serve."""
    if stage == "hmc" and not t.has_gradient:
        raise CLIError(f"target {t.name!r} has no gradient (grad_log_density): exact HMC (--stage hmc) is not available")
    if settings.gradient == "exact" and stage in ("diffusion", "pipeline") and not t.has_gradient:
        raise CLIError(f"target {t.name!r} has no gradient: use --gradient spsa")
    if settings.mass is not None and len(settings.mass) != t.dim:
        raise CLIError(f"mass has {len(settings.mass)} entries but target {t.name!r} has dim {t.dim}")


def _check_keep(args) -> int | None:
    if args.keep is not None and args.keep < 1:
        raise CLIError(f"argument --keep: must be >= 1, got {args.keep}")
    return args.keep


def _dask(args, start: bool):
    """Check ``--dask`` (None without it); ``start``: connect, and return the client (kept on
    ``args`` so that `cmd_run` closes it). A bad value, or no dask, is one line."""
    if getattr(args, "dask", None) is None:
        return None
    from ..distributed import DaskSpecError, check_spec, connect

    try:
        check_spec(args.dask)
        if start:
            args._client = connect(args.dask)
            return args._client
    except DaskSpecError as exc:
        raise CLIError(f"argument --dask: {one_line(exc)}") from None
    return None


def _make_sampler(t, settings, stage, keep_sweeps, client=None):
    """The `Sampler` (it evaluates the starting points): what a dry run checks too."""
    from ..pipeline import DensityError, Sampler

    try:
        return Sampler(t, settings, stage=stage, keep_sweeps=keep_sweeps, client=client)
    except DensityError as exc:
        raise CLIError(f"{exc} (at a starting point; nothing was sampled)") from None
    except ValueError as exc:  # a SettingsError, or a log density that is NaN at every starting point
        raise CLIError(one_line(exc)) from None


def _specialise(args, t, stage, settings):
    """``--specialise``: start the target-inlined 2-D diffusion path compiling in the background
    (`sampler.specialise`); not where the diffusion runs on Dask workers or not at all."""
    from .. import specialise

    if args.specialise == "off" or stage not in ("pipeline", "diffusion") or getattr(args, "_client", None) is not None:
        return
    if args.specialise == "on" or specialise.worth_it(t, settings.walkers, settings.steps, settings.diffusion_sweeps):
        specialise.start(t)


def _specialise_status(t, stage):
    """`specialise.status` for a 2-D run with diffusion (None: not started), False where it does not apply."""
    from .. import specialise

    if t.dim != 2 or stage not in ("pipeline", "diffusion"):
        return False
    return specialise.status(t)


def _sample(sampler, progress, stop):
    """Run every sweep; returns None, or the exception that stopped the run early
    (KeyboardInterrupt, `SweepStopped` on Ctrl-C, or `DensityError`)."""
    from ..distributed import WorkersLost
    from ..pipeline import DensityError, SweepStopped

    n = sampler.total_sweeps()

    def between_blocks():  # a block of walkers is done: the kernels are loaded
        if progress is not None:
            progress.kernels_loaded()
        return stop.requested

    try:
        for k in range(n):
            stop.check()
            sampler.sweep(should_stop=between_blocks)
            if progress is not None:
                progress.update(k + 1, sampler.totals.get("steps", 0))
    except (KeyboardInterrupt, SweepStopped, DensityError, WorkersLost) as exc:
        return exc
    return None


def _save(args, result, settings, t, stage, preset_text, report):
    try:
        io.save(args.out, result, settings=settings, target=t, stage=stage, preset=preset_text, report=report)
    except KeyboardInterrupt:
        raise CLIError(f"--out {args.out!r}: not written (interrupted while saving)", status=130,
                       kind="interrupted") from None
    except Exception as exc:  # noqa: BLE001 -- a full disk reaches us as OSError, RuntimeError, ...
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc)
        raise CLIError(f"--out {args.out!r}: could not write ({detail})", status=1) from None


def _stopped_error(stopped, sampler, saved: str, debug: bool) -> CLIError:
    """The one line for a run stopped early, with what became of its draws."""
    from ..pipeline import DensityError

    done = f"after {sampler.sweep_count:,} of {sampler.total_sweeps():,} sweeps; {saved}"
    from ..distributed import WorkersLost

    if isinstance(stopped, WorkersLost):
        return CLIError(f"{stopped} {done}", status=1)
    if not isinstance(stopped, DensityError):  # Ctrl-C
        return CLIError(done, status=130, kind="interrupted")
    if debug:
        import traceback

        traceback.print_exception(type(stopped.error), stopped.error, stopped.error.__traceback__, chain=False)
    return CLIError(f"{stopped} {done}" + ("" if debug else " (--debug shows the traceback)"))


def cmd_run(args) -> int:
    with Interrupts() as stop:
        try:
            return _run(args, stop)
        finally:
            if getattr(args, "_client", None) is not None:
                _close_client(args._client)


def _close_client(client):
    """Close ``client``, and the LocalCluster it started for ``--dask local:N``."""
    from distributed import LocalCluster

    cluster = client.cluster if isinstance(client.cluster, LocalCluster) else None
    client.close()
    if cluster is not None:
        cluster.close()


def _run(args, stop) -> int:
    from .budget import check_memory, cold_walkers, recorded_sweeps

    target_spec, target_dim, stage, settings, preset_path, notes = resolve_run(args)
    quiet = args.json or args.quiet
    keep = _check_keep(args)
    _dask(args, start=False)
    if args.out is not None:
        try:
            io.check_path(args.out, _records_draws(stage, settings))
        except io.OutputError as exc:
            raise CLIError(f"--out {one_line(exc)}") from None
    threads = _set_threads(args.threads)
    t = _load_target(target_spec, target_dim, args)
    _check_target(t, stage, settings)
    kept = check_memory(stage, settings, t.dim, keep)
    if args.out is not None:
        try:  # the draws it will save must fit on the disk too
            io.check_space(args.out, kept * cold_walkers(stage, settings) * t.dim * 8)
        except io.OutputError as exc:
            raise CLIError(f"--out {one_line(exc)}") from None
    stop.check()  # Ctrl-C while the target compiled
    sampler = _make_sampler(t, settings, stage, max(1, kept), None if args.dry_run else _dask(args, start=True))
    stop.check()
    if not args.quiet:
        for note in notes:
            print(f"mdhmc: note: {note}", file=sys.stderr)
    preset_text = dumps(settings, target=target_spec, stage=stage, target_dim=target_dim,
                        name=f"mdhmc run ({t.name}, {stage})")
    if args.dry_run:
        print(json.dumps(json.loads(preset_text)) if args.json else preset_text)
        return 0

    _specialise(args, t, stage, settings)
    progress = None if quiet else Progress(sampler.total_sweeps()).start()
    completed = False
    try:
        stopped = _sample(sampler, progress, stop)
        completed = stopped is None
    finally:
        if progress is not None:
            progress.stop(completed)
    spec = _specialise_status(t, stage)  # as the last sweep left it, before the report's own work
    result = sampler.result()
    report = build_report(t, sampler, stage, settings, result, threads, args.out)
    if spec is not False:
        report["specialised_2d"] = spec
    report.update(partial=stopped is not None, recorded_sweeps=recorded_sweeps(stage, settings), kept_sweeps=kept)
    result.update(partial=stopped is not None, sweeps_completed=sampler.sweep_count)
    saved = "nothing saved"
    if args.out is not None:
        if stopped is None or len(result["draws"]):
            _save(args, result, settings, t, stage, preset_text, report)
            saved = f"{len(result['draws']):,} recorded sweeps saved to {args.out} (marked partial)"
        else:
            saved = f"nothing recorded yet, {args.out} not written"
            report["out"] = None
    if stopped is not None:
        raise _stopped_error(stopped, sampler, saved, args.debug)
    print(json_dumps(report) if args.json else format_report(report))
    return 0
