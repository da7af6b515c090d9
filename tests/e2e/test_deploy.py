"""The Dataflow path, offline: the job builds (dry run), the template and the Dockerfile agree
with the code, and the project installs the way the Dockerfile installs it."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import SetupOptions, _BeamArgumentParser
from apache_beam.portability.api import beam_runner_api_pb2

from blur_augment.pipeline.options import BlurAugmentOptions
from blur_augment.pipeline.run import launch
from blur_augment.transforms import jpeg_planes
from tests.support.command import blur_augment
from tests.support.helpers import textured, write_image

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "us-central1-docker.pkg.dev/my-project/blur-augment/blur-augment:test"


def dataflow_dry_run(*extra: str):
    argv = [
        "--input", "gs://in-bucket/train", "--output", "gs://out-bucket/blurred",
        "--runner", "DataflowRunner", "--project", "my-project", "--region", "us-central1",
        "--temp_location", "gs://tmp-bucket/tmp", "--sdk_container_image", IMAGE,
        "--dry_run=True", *extra,
    ]  # fmt: skip
    _, _, result = launch(argv)
    return result.job


def test_dataflow_job_builds_offline(monkeypatch):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def loopback_only(sock: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(address)
            raise OSError(f"test: no network for a dry run ({address})")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    job = dataflow_dry_run()
    # Building the job touches neither storage, nor credentials, nor the Dataflow API.
    assert attempts == []
    proto = job.proto_pipeline
    names = {t.unique_name for t in proto.components.transforms.values()}
    for step in (
        "BlurDataset/Match/MatchFiles",
        "BlurDataset/Samples/GroupSamples",
        "BlurDataset/Samples/BlurSample",
        "BlurDataset/RewriteIndex",
        "WriteLog/Write",
        "WriteErrors/Write",
    ):
        assert step in names
    images = {
        beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image
        for env in proto.components.environments.values()
        if env.urn == "beam:env:docker:v1"
    }
    assert images == {IMAGE}
    # Workers import the storage plugin before anything else (see transforms/io/storage.py).
    assert "blur_augment.transforms.io.storage" in job.options.view_as(SetupOptions).beam_plugins


def test_dry_run_false_is_not_a_dry_run(tmp_path: Path):
    """Beam reads --dry_run as a string, so "False" would be true; ours is normalised."""
    write_image(tmp_path / "in" / "a.png", textured(16, 16))
    out = tmp_path / "out"
    done = blur_augment("run", "--input", str(tmp_path / "in"), "--output", str(out),
                        "--dry_run=False")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "dry run" not in done.stderr and "written 1, failed 0" in done.stderr
    assert (out / "a.png").is_file() and (out / "_blur_log" / "_SUCCESS").is_file()


def run_option_names() -> set[str]:
    parser = _BeamArgumentParser()
    BlurAugmentOptions._add_argparse_args(parser)
    return {action.dest for action in parser._actions if action.dest != "help"}


def test_template_metadata_covers_every_run_option():
    metadata = json.loads((ROOT / "deploy" / "metadata.json").read_text())
    params = {p["name"]: p for p in metadata["parameters"]}
    assert set(params) == run_option_names()
    for name, param in params.items():
        assert param["helpText"] and param["label"], name
        for regex in param.get("regexes", []):
            re.compile(regex)
    assert not params["input"]["isOptional"] and not params["output"]["isOptional"]
    gs = re.compile(params["input"]["regexes"][0])
    assert gs.match("gs://my-bucket/train/**") and not gs.match("/local/path")


def pinned_beam_version() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [beam_dep] = [d for d in project["dependencies"] if d.startswith("apache-beam")]
    return re.search(r"==([0-9.]+)", beam_dep).group(1)


def test_dockerfile_base_matches_pinned_beam_and_copies_existing_files():
    dockerfile = (ROOT / "Dockerfile").read_text()
    version = pinned_beam_version()
    assert version == beam.__version__
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"FROM apache/beam_python{python}_sdk:{version}" in dockerfile
    copies = re.findall(r"^COPY (?!--from)(.+)$", dockerfile, flags=re.M)
    assert copies
    for line in copies:
        *sources, _ = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    # the system library the planar JPEG path loads, installed in the image as in .ci/run
    assert re.search(rf"apt-get install [^\n]*\b{jpeg_planes.SYSTEM_PACKAGE}\b", dockerfile)
    assert jpeg_planes.SYSTEM_PACKAGE in (ROOT / ".ci" / "run").read_text()
    entry = re.search(r"FLEX_TEMPLATE_PYTHON_PY_FILE=/opt/blur-augment/(\S+)", dockerfile)
    assert entry and (ROOT / entry.group(1)).is_file()


def test_project_installs_as_the_dockerfile_installs_it(tmp_path: Path):
    """Replay the Dockerfile's COPY and RUN pip lines in a fresh virtual environment whose base
    packages stand in for the SDK image's (Beam and its dependencies, linked from this one)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    venv = tmp_path / "image-venv"
    python = str(venv / "bin" / "python")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    base_site = next(p for p in sys.path if p.endswith("site-packages"))
    (Path(site) / "beam_sdk_image.pth").write_text(base_site + "\n")

    workdir = tmp_path / "opt-blur-augment"  # the image's WORKDIR
    workdir.mkdir()
    for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, flags=re.M):
        *sources, dest = line.split()
        for source in sources:
            target = workdir / dest if not dest.endswith("/") else workdir / dest / source
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-r", str(ROOT / source), str(target)], check=True)
    for install in re.findall(r"^RUN (pip install .+)$", dockerfile, flags=re.M):
        shell = install.replace("pip ", f"{python} -m pip ")
        done = subprocess.run(
            ["bash", "-c", shell], cwd=workdir, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    launcher = subprocess.run(
        [python, str(workdir / "deploy" / "launcher.py"), "--help"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert launcher.returncode == 0, launcher.stderr
    assert "--max_sigma" in launcher.stdout
    if not jpeg_planes.missing_reason():  # the image has the library; so does this machine
        planes = subprocess.run(
            [python, "-c", "from blur_augment.transforms import jpeg_planes as j; "
             "print(j.missing_reason())"],
            capture_output=True, text=True, cwd=workdir, check=True,
        )  # fmt: skip
        assert planes.stdout.strip() == "", planes.stdout
