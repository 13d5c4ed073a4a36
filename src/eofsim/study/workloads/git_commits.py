"""git init / add / commit of a generated tree, then R rounds of edits and commits.

usage: python3 git_commits.py N R   (N files; needs git)
"""

import os
import random
import subprocess
import sys


def git(*args):
    env = dict(os.environ, GIT_AUTHOR_NAME="eofsim", GIT_AUTHOR_EMAIL="e@example.invalid",
               GIT_COMMITTER_NAME="eofsim", GIT_COMMITTER_EMAIL="e@example.invalid",
               GIT_AUTHOR_DATE="2026-01-01T00:00:00Z", GIT_COMMITTER_DATE="2026-01-01T00:00:00Z",
               GIT_CONFIG_NOSYSTEM="1", HOME=os.getcwd())
    subprocess.run(["git", *args], check=True, env=env, stdout=subprocess.DEVNULL)


def main():
    n, rounds = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(4)
    git("init", "-q", "-b", "main", ".")
    git("config", "core.fsync", "committed")
    for r in range(rounds + 1):
        for i in range(n):
            if r and rng.random() > 0.3:
                continue
            os.makedirs(f"src/m{i % 5}", exist_ok=True)
            with open(f"src/m{i % 5}/f{i}.c", "w") as f:
                f.write(f"/* round {r} */\n" + "int x;\n" * rng.randint(1, 400))
        git("add", "-A")
        git("commit", "-q", "-m", f"round {r}")


if __name__ == "__main__":
    main()
