# SPDX-License-Identifier: Apache-2.0
"""The README's commands keep their setup: `make demo` and `make test` install what they need first, and
`make build` needs neither root nor the lab. Read from make's own dry run of a fresh copy of the tree, and
`make build` run for real as an unprivileged user."""
from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pkgtools import VERSION, clean_env, run

SETUP = ["tools/deps.sh", "tools/venv.sh", "ln -sfn"]  # make setup's recipes: Debian packages, the venv, the link
LAB_OR_ROOT = ("tools/deps.sh", "labctl", "apt-get", "podman", "sudo", "flock", "demo.sh")


def dry_run(tree: Path, target: str) -> list[str]:
    proc = run(["make", "--no-print-directory", "-n", target], cwd=tree)
    assert proc.returncode == 0, proc.output
    return proc.stdout.splitlines()


def position(lines: list[str], needle: str) -> int:
    found = [i for i, line in enumerate(lines) if needle in line]
    assert found, f"`{needle}` is not among the commands make would run:\n" + "\n".join(lines)
    return found[0]


@pytest.mark.parametrize("target, runs", [("demo", "tools/demo.sh"), ("test", "tools/stages.sh")])
def test_the_readme_commands_install_what_they_need_first(fresh_tree, target, runs):
    lines = dry_run(fresh_tree, target)
    last = position(lines, runs)
    for step in SETUP:
        assert position(lines, step) < last, f"make {target} runs {runs} before `{step}` (its setup):\n" + "\n".join(lines)


def test_demo_rolls_with_the_progress_callback(fresh_tree):
    demo = dry_run(fresh_tree, "demo")[position(dry_run(fresh_tree, "demo"), "tools/demo.sh")]
    assert "ANSIBLE_STDOUT_CALLBACK=${ANSIBLE_STDOUT_CALLBACK:-ndu.dataplane.progress}" in demo, demo


def test_demo_finds_what_it_uses_after_its_setup(fresh_tree):
    """What `make demo` runs after its setup, in the fresh tree: the venv's Python with openstacksdk (the lab's
    control script and the demo's server script import it) and the collection resolvable as ndu.dataplane."""
    proc = run(["make", "--no-print-directory", "setup"], cwd=fresh_tree, timeout=1200)
    assert proc.returncode == 0, proc.output
    python = fresh_tree / ".venv" / "bin" / "python"
    proc = run([str(python), "-c", "import openstack, ansible.release; print(openstack.__name__, ansible.release.__version__)"], cwd=fresh_tree)
    assert proc.returncode == 0, proc.output
    env = clean_env(ANSIBLE_CONFIG=str(fresh_tree / "ansible.cfg"), PATH=f"{python.parent}:{os.environ['PATH']}")
    proc = run(["ansible-playbook", "--syntax-check", "ndu.dataplane.rolling_upgrade"], cwd=fresh_tree, env=env)
    assert proc.returncode == 0, proc.output


def test_build_needs_no_root_and_no_lab(fresh_tree):
    lines = dry_run(fresh_tree, "build")
    assert any("ansible-galaxy collection build" in line for line in lines), lines
    bad = [line for line in lines for word in LAB_OR_ROOT if word in line]
    assert not bad, f"make build would run what needs root or the lab: {bad}"


def _stand_in_venv(home: Path, tree: Path) -> None:
    """The venv an unprivileged user's `make venv` would make (under ~/.cache, for /usr/bin/python3), stood in for
    by one that reads the dev venv's packages, so the test costs a second instead of a pip install."""
    python = "/usr/bin/python3"
    key = subprocess.run([python, "-c", "import hashlib,sys,platform; d=open(sys.argv[1],'rb').read(); "
                          "print(hashlib.sha256(d+platform.python_version().encode()).hexdigest()[:16])",
                          str(tree / "requirements-dev.txt")], capture_output=True, text=True, check=True).stdout.strip()
    venv = home / ".cache" / "ndu-dataplane" / f"dev-venv-{key}"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    dev_site = next((Path(sys.prefix) / "lib").glob("python3*/site-packages"))
    (site / "ndu-dev-venv.pth").write_text(f"{dev_site}\n")
    for tool in ("ansible-playbook", "ansible-galaxy"):
        script = venv / "bin" / tool
        script.write_text(f"#!{venv}/bin/python\n" + "".join((Path(sys.prefix) / "bin" / tool).read_text().splitlines(True)[1:]))
        script.chmod(0o755)
    (venv / ".complete").touch()


@pytest.mark.skipif(not Path("/usr/bin/python3").exists() or not shutil.which("setpriv"), reason="needs /usr/bin/python3 and setpriv")
def test_make_build_as_an_unprivileged_user(fresh_tree):
    if os.geteuid() != 0:
        uid = gid = None  # already unprivileged: run as we are
    else:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
    top = Path(tempfile.mkdtemp(prefix="ndu-build-as-user-"))
    try:
        tree, home = top / "tree", top / "home"
        shutil.copytree(fresh_tree, tree, symlinks=True, ignore=shutil.ignore_patterns(".venv", "build"))
        home.mkdir()
        _stand_in_venv(home, tree)
        cmd = ["make", "--no-print-directory", "build"]
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        if uid is not None:
            os.chmod(top, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
            for path in [top, *top.rglob("*")]:
                os.lchown(path, uid, gid)
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *cmd]
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=300, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
        assert (tree / "build" / f"ndu-dataplane-{VERSION}.tar.gz").is_file(), output
        assert "not writable" in output or uid is None, "venv.sh should say it uses the user's own cache:\n" + output
    finally:
        shutil.rmtree(top, ignore_errors=True)
