#!/bin/sh
# codeseek-hook: keeps the codeseek index current (codeseek hooks install / uninstall).
# It starts the update in a detached background process and returns at once: the git
# command never waits for codeseek, and nothing codeseek does can fail it.
python=""  # `codeseek hooks install` writes the Python that has codeseek here

hook=$(basename "$0")
if [ "$hook" = "codeseek-hook" ]; then
    # Run by the pre-commit framework, which names the stage in the hook's args (or not:
    # every post-* stage updates the same way).
    hook=${1:-post-commit}
fi

status=0
if [ -x "$0.codeseek-chained" ]; then
    # The hook that was here before codeseek's, kept and run first with the same input.
    "$0.codeseek-chained" "$@"
    status=$?
fi

(
    # A background git on this repository must find it from the working directory, not
    # through variables git set for the hook (a commit's temporary index, say).
    unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX GIT_OBJECT_DIRECTORY GIT_COMMON_DIR
    trap '' HUP
    if [ -n "$python" ]; then
        # -P: the repository's own modules must not shadow codeseek's imports.
        exec "$python" -P -m codeseek hooks run "$hook"
    fi
    exec codeseek hooks run "$hook"
) </dev/null >/dev/null 2>&1 &

exit $status
