"""scripts/sysdeps (what `make test` and `make demo` run first): installs exactly the
missing packages as root with apt-get, does nothing when all are present, and without
root says what is missing and how to install it. Run against fake dpkg-query/id/apt-get."""

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "sysdeps"


def fake_bin(tmp_path, uid, installed, with_apt=True):
    b = tmp_path / "bin"
    b.mkdir()
    log = tmp_path / "apt.log"
    (b / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    inst = " ".join(installed)
    (b / "dpkg-query").write_text(
        "#!/bin/sh\nfor p in " + inst + "; do [ \"$3\" = \"$p\" ] && "
        "printf 'install ok installed' && exit 0; done\nexit 1\n")
    if with_apt:
        (b / "apt-get").write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    for f in b.iterdir():
        f.chmod(0o755)
    env = dict(os.environ, PATH=str(b))  # nothing else: no real apt-get
    return env, log


def run(env):
    return subprocess.run(["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=60)


def all_pkgs():
    for line in SCRIPT.read_text().splitlines():
        if line.startswith("PKGS="):
            return line.split("=", 1)[1].strip('"').split()
    raise AssertionError("no PKGS= line")


def test_root_installs_only_what_is_missing(tmp_path):
    pkgs = all_pkgs()
    assert {"fuse3", "libfuse3-dev", "e2fsprogs", "xfsprogs", "chromium",
            "fonts-dejavu-core", "fio", "sqlite3"} <= set(pkgs)
    env, log = fake_bin(tmp_path, 0, [p for p in pkgs if p not in ("fio", "chromium")])
    r = run(env)
    assert r.returncode == 0, r.stderr
    calls = log.read_text().splitlines()
    assert calls[0].startswith("update")
    assert calls[1].split()[-2:] == ["chromium", "fio"]


def test_nothing_missing_is_quick_and_calls_no_apt(tmp_path):
    env, log = fake_bin(tmp_path, 0, all_pkgs())
    r = run(env)
    assert r.returncode == 0 and not log.exists() and r.stdout == r.stderr == ""


def test_without_root_says_what_is_missing(tmp_path):
    env, log = fake_bin(tmp_path, 1000, ["fuse3"])
    r = run(env)
    assert r.returncode == 0 and not log.exists()
    assert "not root" in r.stderr and "apt-get install -y" in r.stderr
    assert "xfsprogs" in r.stderr and " fuse3 " not in r.stderr.split("(")[0]


def test_without_apt_says_so(tmp_path):
    env, log = fake_bin(tmp_path, 0, [], with_apt=False)
    r = run(env)
    assert r.returncode == 0 and "no apt-get" in r.stderr


def test_make_test_and_demo_depend_on_it_and_ci_only_calls_make_test():
    mk = (SCRIPT.parent.parent / "Makefile").read_text()
    rules = {ln.split(":")[0]: ln for ln in mk.splitlines() if ":" in ln and not ln.startswith("\t")}
    assert "sysdeps" in rules["test"] and "sysdeps" in rules["demo"]
    assert "-rs" in mk.split("\ntest:")[1].split("\n\n")[0]
    ci = (SCRIPT.parent.parent / ".ci" / "run").read_text()
    cmds = [ln for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")
            and not ln.startswith(("set ", "cd "))]
    assert cmds == ["make test"]
