"""Outputs the current configuration does not make: what earlier runs of other profiles, datasets,
tasks or variants left under ``data/``, ``models/`` and ``reports/``.

The report, the figures and ``dvc.yaml`` read only the outputs the DAG declares, so stale files
never show up in them; :func:`stale_outputs` lists them (``avrepro stale``) and
:func:`remove_stale` deletes them (``avrepro stale --remove``), to free the disk or to leave a
tree equal to a fresh clone's run of this configuration.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from avrepro.dvcyaml import snakemake_jobs

OUTPUT_ROOTS = ("data", "models", "reports")
# Not made by the DAG, kept: `make bench`'s outputs and the downloads of a dataset in use.
KEEP = ("reports/benchmarks", "reports/benchmarks.md")


def declared_paths(workdir: Path, config: dict | None = None) -> set[str]:
    """Every output and log of the DAG of ``config`` (as if nothing existed), the training
    checkpoints a rerun resumes from, and the download folders of its datasets."""
    paths: set[str] = set(KEEP)
    for job in snakemake_jobs(workdir, config):
        paths.update(job["output"], job["log"])
        for out in job["output"]:
            if out.endswith("/best.pt"):
                paths.add(out.rsplit("/", 1)[0] + "/.partial")
        if job["rule"] == "download":
            paths.add(f"data/downloads/{job['wildcards']['dataset']}")
    return paths


def _git_tracked(workdir: Path) -> set[str]:
    proc = subprocess.run(["git", "ls-files", *OUTPUT_ROOTS], cwd=workdir, capture_output=True, text=True)
    return set(proc.stdout.split()) if proc.returncode == 0 else set()


def stale_outputs(workdir: str | Path = ".", config: dict | None = None) -> list[Path]:
    """Files and folders under the output roots that no job of ``config``'s DAG declares (a folder
    is named once when nothing in it is declared), relative to ``workdir``, sorted."""
    workdir = Path(workdir)
    declared = declared_paths(workdir, config) | _git_tracked(workdir)
    ancestors = {str(p) for d in declared for p in Path(d).parents}
    stale: list[Path] = []

    def visit(rel: Path) -> None:
        text = rel.as_posix()
        if text in declared:
            return
        if text in ancestors and (workdir / rel).is_dir():
            for child in sorted((workdir / rel).iterdir()):
                visit(rel / child.name)
            return
        stale.append(rel)

    for root in OUTPUT_ROOTS:
        if (workdir / root).is_dir():
            visit(Path(root))
    return stale


def remove_stale(workdir: str | Path, stale: list[Path]) -> None:
    """Delete the ``stale`` paths (relative to ``workdir``)."""
    for rel in stale:
        path = Path(workdir) / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
