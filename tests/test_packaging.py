"""What `pip install "ttl @ git+..."` (the Colab route) puts on a machine: the package and the sample."""

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy of the tracked files, as `pip install git+...` builds from a clone (and
    # so that the build leaves no build/ folder in the checkout).
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in tracked_files("."):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    # No build isolation: the test extra installs setuptools and wheel, so nothing is fetched here.
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           str(src), "-w", str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{done.stderr[-3000:]}")
    (path,) = out.glob("ttl-*.whl")
    return path


def tracked_files(folder: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.strip():
        pytest.skip("not a git checkout")
    return out.stdout.split()


def test_wheel_carries_every_module_and_the_whole_sample(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = [f for f in tracked_files("ttl") if f.endswith((".py", ".yaml", ".txt"))]
    missing = [m for m in modules if m not in names]
    assert not missing, (f"not in the wheel: {missing[:5]}; add the subpackage to [tool.setuptools] packages "
                         "(or the files to package-data) in pyproject.toml")
    sample = [f for f in tracked_files("data")]
    missing = [f for f in sample if "ttl_sample/" + f.removeprefix("data/") not in names]
    assert not missing, f"sample files not in the wheel: {missing[:5]}; extend ttl_sample's package-data globs"


def test_installed_wheel_finds_the_sample_outside_a_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(site)!r})     # ahead of the editable install of the test venv
        import ttl
        from ttl.data.loaders import data_dir, load_corpus, load_hatebr
        assert ttl.__file__.startswith({str(site)!r}), ttl.__file__
        print(data_dir())
        print(len(load_corpus()), load_hatebr()["test"].num_rows)
    """)
    env = {k: v for k, v in os.environ.items() if k != "TTL_DATA_DIR"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    where, counts = out.stdout.strip().splitlines()
    assert Path(where) == site / "ttl_sample"
    from ttl.data.loaders import load_corpus, load_hatebr

    assert list(map(int, counts.split())) == [len(load_corpus()), load_hatebr()["test"].num_rows]
