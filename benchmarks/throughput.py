"""Throughput benchmark: the raw OpenCV loop against blur-augment's pure path and its pipeline.

    python benchmarks/throughput.py              # full run, a few minutes on 2 cores
    python benchmarks/throughput.py --quick      # a smoke run in well under a minute

Everything is measured in one process and session, interleaved in rounds, and reported as
ratios to the naive loop (decode -> cv2.GaussianBlur -> encode) measured beside it. Images are
built from the bundled samples, resized to 640x480, 1920x1080 and 3840x2160, as JPEG (q95) and
PNG; sigma covers U[0, 10] by its quantiles in the single-core loops and is drawn by the
project's sampler in the pipelines. Results go to stdout and to a JSON file with the versions
and the machine. No assertion: people judge the figures.

The process is tuned as a pipeline worker is (`tune_worker_process`: one OpenCV thread, freed
image buffers kept for reuse), so the naive loop runs under the same allocator setting as the
project's loops; measured apart, that setting leaves the naive loop within 3% (faster, if
anything), so the ratios are not flattered by it.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import apache_beam
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from blur_augment.transforms import imaging, jpeg_planes  # noqa: E402
from blur_augment.transforms.blur import kernel_size  # noqa: E402
from blur_augment.transforms.sampling import BlurSpec, sample  # noqa: E402
from blur_augment.transforms.tuning import tune_worker_process  # noqa: E402

SIZES = {"640x480": (640, 480), "1920x1080": (1920, 1080), "3840x2160": (3840, 2160)}
FORMATS = {"jpeg": (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95]), "png": (".png", [])}
SPEC = BlurSpec(min_sigma=0.0, max_sigma=10.0)


def sample_images() -> list[np.ndarray]:
    return [
        cv2.imread(str(p), cv2.IMREAD_COLOR)
        for p in sorted((ROOT / "samples" / "images").rglob("*"))
        if p.suffix.lower() in (".jpg", ".png")
    ]


def encoded_set(size: tuple[int, int], fmt: str, count: int) -> list[bytes]:
    ext, params = FORMATS[fmt]
    images = sample_images()
    out = []
    for i in range(count):
        image = cv2.resize(images[i % len(images)], size, interpolation=cv2.INTER_CUBIC)
        out.append(cv2.imencode(ext, image, params)[1].tobytes())
    return out


def stratified_sigmas(count: int) -> list[float]:
    """`count` sigmas that represent U[min, max] by its quantiles, in a fixed shuffled order.

    A few dozen random draws can sit well off the mean (the first 21 keys' sigmas average 4.4,
    not 5), and the fast path's share would swing the ratios with them."""
    quantiles = (SPEC.min_sigma + (i + 0.5) / count * (SPEC.max_sigma - SPEC.min_sigma)
                 for i in range(count))  # fmt: skip
    return [float(s) for s in np.random.default_rng(0).permutation(list(quantiles))]


def fresh(directory: Path) -> Path:
    """An empty output directory: every loop and run writes new files, as a real job does
    (replacing existing files costs ext4 a flush per file, which no real run pays)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def naive_loop(files: list[Path], fmt: str, sigmas: list[float], out: Path) -> None:
    """What a user writes first: imdecode -> cv2.GaussianBlur -> imencode, file to file."""
    ext, params = FORMATS[fmt]
    for path, sigma in zip(files, sigmas, strict=True):
        pixels = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
        if sigma > 0:
            pixels = cv2.GaussianBlur(pixels, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
        (out / path.name).write_bytes(cv2.imencode(ext, pixels, params)[1].tobytes())


def codec_loop(files: list[Path], fmt: str, sigmas: list[float], out: Path) -> None:
    """Decode and encode alone, through OpenCV's BGR pixels: the floor of the pixel path."""
    ext, params = FORMATS[fmt]
    for path in files:
        pixels = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
        (out / path.name).write_bytes(cv2.imencode(ext, pixels, params)[1].tobytes())


def planes_codec_loop(files: list[Path], fmt: str, sigmas: list[float], out: Path) -> None:
    """Decode and encode alone, as JPEG planes: the floor of the planar path."""
    for path in files:
        decoded = jpeg_planes.decode(path.read_bytes())
        (out / path.name).write_bytes(jpeg_planes.encode(decoded, 95))


def pure_loop(
    files: list[Path], fmt: str, sigmas: list[float], out: Path, codec_path: str = "auto"
) -> None:
    """The project's per-image path without Beam (the functions the sample step calls): header
    checks, decode with metadata, blur, encode. (The sampler's cost is in the file loop.)"""
    for path, sigma in zip(files, sigmas, strict=True):
        decoded = imaging.decode(path.read_bytes(), fmt, codec_path)
        (out / path.name).write_bytes(imaging.encode(imaging.blur(decoded, sigma, sigma), fmt))


def albumentations_loop(files: list[Path], fmt: str, sigmas: list[float], out: Path) -> None:
    """A peer: albumentations' GaussianBlur with the same sigma and OpenCV's kernel rule,
    decoded and encoded by OpenCV (no RGB round trip: blur does not care, and it is cheaper)."""
    import albumentations

    ext, params = FORMATS[fmt]
    for path, sigma in zip(files, sigmas, strict=True):
        pixels = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
        if sigma > 0:
            size = kernel_size(sigma, pixels.dtype)
            transform = albumentations.GaussianBlur((size, size), (sigma, sigma), p=1.0)
            pixels = transform(image=pixels)["image"]
        (out / path.name).write_bytes(cv2.imencode(ext, pixels, params)[1].tobytes())


def pillow_loop(files: list[Path], fmt: str, sigmas: list[float], out: Path) -> None:
    """A peer: Pillow open -> ImageFilter.GaussianBlur(radius=sigma) -> save (JPEG q95)."""
    from PIL import Image, ImageFilter

    options = {"quality": 95} if fmt == "jpeg" else {}
    for path, sigma in zip(files, sigmas, strict=True):
        with Image.open(path) as image:
            if sigma > 0:
                image = image.filter(ImageFilter.GaussianBlur(sigma))
            image.save(out / path.name, format=fmt.upper(), **options)


def timed(function: Callable[[], None]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def available_loops(fmt: str) -> dict[str, Callable[..., None]]:
    """The loops to run for a format: the planar ones only for JPEG and where libturbojpeg is
    installed, the peers where their library is."""
    loops: dict[str, Callable[..., None]] = {"naive": naive_loop, "codec only": codec_loop}
    planes = fmt == "jpeg" and not jpeg_planes.missing_reason()
    if planes:
        loops["codec only (planes)"] = planes_codec_loop
    loops["pure"] = pure_loop
    if planes:
        loops["pure (pixels)"] = lambda *args: pure_loop(*args, codec_path="pixels")
    if importlib.util.find_spec("albumentations"):
        loops["albumentations"] = albumentations_loop
    loops["pillow"] = pillow_loop
    return loops


def single_core(counts: dict[str, int], rounds: int) -> list[dict]:
    """Per size and format: the loops interleaved for `rounds` rounds over the same files;
    median seconds. The process is pinned to one core meanwhile, so a library that starts
    threads of its own gets no more than the others."""
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(saved)})
    try:
        return _single_core(counts, rounds)
    finally:
        os.sched_setaffinity(0, saved)


def _single_core(counts: dict[str, int], rounds: int) -> list[dict]:
    results = []
    if jpeg_planes.missing_reason():
        print(f"  (no planar JPEG rows: {jpeg_planes.missing_reason()})", flush=True)
    if not importlib.util.find_spec("albumentations"):
        print("  (no albumentations row: pip install -e '.[bench]')", flush=True)
    for size_name, size in SIZES.items():
        for fmt in FORMATS:
            loops = available_loops(fmt)
            with tempfile.TemporaryDirectory() as scratch_name:
                scratch = Path(scratch_name)
                files = []
                for i, data in enumerate(encoded_set(size, fmt, counts[size_name])):
                    files.append(scratch / f"in{i}{FORMATS[fmt][0]}")
                    files[-1].write_bytes(data)
                sigmas = stratified_sigmas(len(files))
                times: dict[str, list[float]] = {name: [] for name in loops}
                for loop in loops.values():  # warm-up: imports, first-call caches
                    loop(files[:1], fmt, sigmas[:1], fresh(scratch / "out"))
                for _ in range(rounds):
                    for name, loop in loops.items():
                        out = fresh(scratch / "out")
                        times[name].append(timed(functools.partial(loop, files, fmt, sigmas, out)))
            naive = statistics.median(times["naive"])
            megapixels = size[0] * size[1] / 1e6
            for name, samples in times.items():
                seconds = statistics.median(samples)
                results.append(
                    {
                        "size": size_name,
                        "format": fmt,
                        "loop": name,
                        "images": len(files),
                        "seconds": seconds,
                        "images_per_s": len(files) / seconds,
                        "mp_per_s": len(files) * megapixels / seconds,
                        "vs_naive": naive / seconds,
                    }
                )
            print_rows(results[-len(loops) :])
            pure = statistics.median(times["pure"])
            versus = [f"{name} x{statistics.median(times[name]) / pure:.2f}" for name in loops
                      if name in ("pure (pixels)", "albumentations", "pillow")]  # fmt: skip
            print(f"{'':>14} pure vs: {', '.join(versus)}", flush=True)
    return results


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        print(
            f"{r['size']:>9} {r['format']:>4} {r['loop']:<22} {r['images_per_s']:8.1f} img/s "
            f"{r['mp_per_s']:7.1f} MP/s  x{r['vs_naive']:.2f} vs naive",
            flush=True,
        )


def write_dataset(directory: Path, count: int, size: tuple[int, int]) -> None:
    images = encoded_set(size, "jpeg", min(count, 16))
    for i in range(count):
        path = directory / f"d{i % 8}" / f"img{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(images[i % len(images)])


def file_loop(directory: Path, out: Path) -> None:
    """The DoFn's work as a plain loop: read, decode, sample, blur, encode, write."""
    for path in sorted(directory.rglob("*.jpg")):
        key = path.relative_to(directory).as_posix()
        decoded = imaging.decode(path.read_bytes(), "jpeg")
        drawn = sample(0, 0, key, SPEC)
        blurred = imaging.blur(decoded, drawn.sigma_x, drawn.sigma_y)
        target = out / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(imaging.encode(blurred, "jpeg"))


_RUN_AND_MEASURE = """
import resource, sys, time
from blur_augment.pipeline.cli import main
started = time.perf_counter()
code = main(sys.argv[1:])
elapsed = time.perf_counter() - started
own = resource.getrusage(resource.RUSAGE_SELF)
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"RESULT {elapsed} {own.ru_maxrss // 1024} {children.ru_maxrss // 1024} "
      f"{own.ru_utime + own.ru_stime} {children.ru_utime + children.ru_stime}")
sys.exit(code)
"""


def pipeline_run(directory: Path, out: Path, *beam_args: str) -> dict:
    """A `blur-augment run` in a fresh process: wall time, peak memory (MB) of the launcher
    and of its largest worker process, and the CPU seconds of the launcher (the runner, in
    multi_processing mode) and of its worker processes."""
    args = ["run", "--input", str(directory), "--output", str(out), "--overwrite",
            "--max_sigma", "10", *beam_args]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_MEASURE, *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    _, elapsed, own, children, own_cpu, children_cpu = line.split()
    return {
        "seconds": float(elapsed),
        "peak_mb": int(own),
        "worker_peak_mb": int(children),
        "runner_cpu_s": float(own_cpu),
        "workers_cpu_s": float(children_cpu),
    }


def pipelines(count: int, size: tuple[int, int], rounds: int) -> dict:
    """The pipeline against the plain file loop over the same files: in-process, and with 1 and
    2 worker processes. Each is also run on a quarter of the images, so that the marginal rate
    (images / extra seconds) leaves out the fixed cost of starting Python, Beam and workers.
    Peak worker memory with a quarter of the images and with all of them shows whether
    anything accumulates."""
    small_count = max(count // 4, 1)
    processes = ("--direct_running_mode", "multi_processing", "--direct_num_workers")
    modes = {
        "file loop": None,
        "beam in_memory": ("--direct_running_mode", "in_memory"),
        "beam in_memory, 10 copies": ("--direct_running_mode", "in_memory", "--copies", "10"),
        "beam 1 process": (*processes, "1"),
        "beam 2 processes": (*processes, "2"),
    }
    seconds: dict[str, dict[int, list[float]]] = {m: {count: [], small_count: []} for m in modes}
    worker_peak: dict[int, int] = {}
    runner_cpu: dict[int, list[float]] = {count: [], small_count: []}  # with 2 processes
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        datasets = {count: scratch / "all", small_count: scratch / "quarter"}
        for n, directory in datasets.items():
            write_dataset(directory, n, size)
        for round_index in range(rounds):
            for n, directory in datasets.items():
                if round_index and n == small_count:
                    continue  # the quarter runs once: it only anchors the fixed cost
                for i, (mode, beam_args) in enumerate(modes.items()):
                    out = fresh(scratch / f"out{i}")
                    if beam_args is None:
                        seconds[mode][n].append(timed(lambda d=directory, o=out: file_loop(d, o)))
                        continue
                    measured = pipeline_run(directory, out, *beam_args)
                    seconds[mode][n].append(measured["seconds"])
                    if mode == "beam 2 processes":
                        worker_peak[n] = max(worker_peak.get(n, 0), measured["worker_peak_mb"])
                        runner_cpu[n].append(measured["runner_cpu_s"])
    total = {m: statistics.median(s[count]) for m, s in seconds.items()}
    marginal = {
        m: (count - small_count) / (total[m] - statistics.median(s[small_count]))
        for m, s in seconds.items()
    }
    result = {
        "images": count,
        "size": f"{size[0]}x{size[1]}",
        "seconds": total,
        "images_per_s": {m: count / t for m, t in total.items()},
        "marginal_images_per_s": marginal,
        "beam_in_memory_vs_file_loop": total["file loop"] / total["beam in_memory"],
        "beam_in_memory_vs_file_loop_marginal": marginal["beam in_memory"] / marginal["file loop"],
        # the cost of one written copy with --copies 10 against --copies 1 (one read and one
        # decode per image serve all ten copies)
        "copy_cost_10_vs_1": marginal["beam in_memory"]
        / (10 * marginal["beam in_memory, 10 copies"]),
        "two_vs_one_process": total["beam 1 process"] / total["beam 2 processes"],
        "two_vs_one_process_marginal": marginal["beam 2 processes"] / marginal["beam 1 process"],
        "worker_peak_mb": {f"{n} images": mb for n, mb in sorted(worker_peak.items())},
        # what the runner process itself spends while 2 workers run: its CPU seconds, and
        # their growth per image (the fixed part is start-up: imports, graph, workers)
        "runner_cpu_s": {f"{n} images": statistics.median(c) for n, c in runner_cpu.items()},
        "runner_cpu_ms_per_image": 1000
        * (statistics.median(runner_cpu[count]) - statistics.median(runner_cpu[small_count]))
        / (count - small_count),
    }
    for mode in modes:
        print(f"{mode:<26} {count / total[mode]:8.1f} img/s ({total[mode]:.2f} s); marginal "
              f"{marginal[mode]:6.1f} img/s", flush=True)  # fmt: skip
    print(
        f"beam in_memory / file loop: x{result['beam_in_memory_vs_file_loop']:.3f} "
        f"(marginal x{result['beam_in_memory_vs_file_loop_marginal']:.3f}); "
        f"cost per written copy, 10 copies / 1 copy: x{result['copy_cost_10_vs_1']:.2f}; "
        f"2 processes / 1 process: x{result['two_vs_one_process']:.2f} "
        f"(marginal x{result['two_vs_one_process_marginal']:.2f}); "
        f"worker peak memory {result['worker_peak_mb']}; runner CPU with 2 processes "
        f"{result['runner_cpu_s']} s, {result['runner_cpu_ms_per_image']:.2f} ms per image",
        flush=True,
    )
    return result


def machine() -> dict:
    cpu = ""
    flags = ""
    try:
        info = Path("/proc/cpuinfo").read_text()
        cpu = next(
            line.split(":", 1)[1].strip() for line in info.splitlines() if "model name" in line
        )
        flags = next(line for line in info.splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        pass
    return {
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "apache_beam": apache_beam.__version__,
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "avx512": "avx512f" in flags,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, one round")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "throughput.json"))
    args = parser.parse_args()
    if args.quick:
        counts, rounds, pipeline_images, pipeline_rounds = (
            {"640x480": 14, "1920x1080": 7, "3840x2160": 2}, 1, 64, 1
        )  # fmt: skip
    else:
        counts, rounds, pipeline_images, pipeline_rounds = (
            {"640x480": 56, "1920x1080": 21, "3840x2160": 7}, 3, 512, 2
        )  # fmt: skip
    started = time.perf_counter()
    tune_worker_process()
    print(f"machine: {json.dumps(machine())}", flush=True)
    print("single core, sigma U[0, 10], median of interleaved rounds:", flush=True)
    loops = single_core(counts, rounds)
    print(f"pipeline, {pipeline_images} images of 1920x1080 JPEG:", flush=True)
    beam_results = pipelines(pipeline_images, SIZES["1920x1080"], pipeline_rounds)
    report = {
        "machine": machine(),
        "sigma": [SPEC.min_sigma, SPEC.max_sigma],
        "single_core": loops,
        "pipeline": beam_results,
        "total_seconds": time.perf_counter() - started,
        "self_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"written {args.out} in {report['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
