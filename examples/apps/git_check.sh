# --app-check for a repository built by `git init/add/commit` on the mount: a crash state is
# rejected only if the branch ref is there (the commit happened) but `git fsck` fails or the
# ref names a missing commit. usage: --app-check 'sh examples/apps/git_check.sh'
test -s .git/refs/heads/master || exit 0
out=$(git fsck --no-progress --no-dangling 2>&1) || { echo "fsck: $(echo "$out" | head -1)"; exit 1; }
git cat-file -e "$(cat .git/refs/heads/master)^{commit}" 2>/dev/null || { echo "branch names a missing commit"; exit 1; }
