"""What getsentry's devservices 1.5.4 starts for one repo and mode.

Usage: resolve.py REPO_DIR MODE   (run with the testbed venv's python, with
HOME pointing at a scratch home whose ~/.cache/sentry-devservices/dependencies/v1/
already holds the remotes, and the compose plugin linked under ~/.docker).

This drives devservices' own `up` command (devservices.commands.up.up) with
`--offline`, so remotes resolve through install_and_verify_dependencies(...,
DependencyUpdateMode.OFFLINE, modes=[mode]) from the pre-filled cache and the
services of each compose invocation come from its own
get_docker_compose_commands_to_run (which runs the real
`docker compose config --services`). Only the steps that would touch the engine
or supervisord are replaced, by recorders:

- _bring_up_dependency(cmd, env, status): records the `docker compose ... up`
  command (project, file, services) instead of running it;
- bring_up_supervisor_programs(service, programs, status): records the programs;
- _create_devservices_network, get_container_names_for_project,
  check_all_containers_healthy: no-ops.

Prints JSON on stdout:
  {"service": top-level service name,
   "projects": {project: [services passed to `compose up`, sorted]},
   "started":  {project: [services compose starts for that command, sorted]},
   "programs": [sorted]}
`started` asks the same compose (`config --format json SVC...`, which adds the
`depends_on` closure, and all services when none is named) what `up` with
those arguments brings up. Any failure exits non-zero with the reason on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from argparse import Namespace

os.environ["DEVSERVICES_DISABLE_SENTRY"] = "1"

# Imported after HOME is final: devservices computes its paths at import time.
import devservices.commands.up as up_mod  # noqa: E402
from devservices.constants import DEVSERVICES_DEPENDENCIES_CACHE_DIR  # noqa: E402


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: resolve.py REPO_DIR MODE", file=sys.stderr)
        return 2
    repo, mode = os.path.abspath(sys.argv[1]), sys.argv[2]
    if not os.path.isdir(DEVSERVICES_DEPENDENCIES_CACHE_DIR):
        print(
            f"no dependency cache at {DEVSERVICES_DEPENDENCIES_CACHE_DIR}",
            file=sys.stderr,
        )
        return 2
    os.chdir(repo)

    commands: list[tuple[object, dict[str, str]]] = []
    programs: list[list[str]] = []
    service_names: list[str] = []

    def record_up(cmd, env, status):  # type: ignore[no-untyped-def]
        commands.append((cmd, dict(env)))

    def record_programs(service, supervisor_programs, status):  # type: ignore[no-untyped-def]
        service_names.append(service.name)
        programs.append(list(supervisor_programs))

    up_mod._bring_up_dependency = record_up
    up_mod.bring_up_supervisor_programs = record_programs
    up_mod._create_devservices_network = lambda: None
    up_mod.get_container_names_for_project = lambda *a, **k: []
    up_mod.check_all_containers_healthy = lambda *a, **k: None

    args = Namespace(
        service_name=None, mode=mode, exclude_local=False, offline=True, debug=False
    )
    # devservices' console writes to stdout; keep stdout for the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            up_mod.up(args)
        except SystemExit as e:
            print(f"devservices up --offline --mode {mode} exited with {e.code}", file=sys.stderr)
            return 1

    projects: dict[str, set[str]] = {}
    started: dict[str, set[str]] = {}
    for cmd, env in commands:
        projects.setdefault(cmd.project_name, set()).update(cmd.services)
        # `config --format json SVC...` keeps the named services and their
        # depends_on closure (all services when none is named), as `up` does.
        # (`config --services` ignores service arguments.)
        closure = subprocess.run(
            ["docker", "compose", "-p", cmd.project_name, "-f", cmd.config_path,
             "config", "--format", "json", *cmd.services],
            env=env, capture_output=True, text=True,
        )
        if closure.returncode != 0:
            print(f"docker compose config failed for {cmd.project_name}: "
                  f"{closure.stderr}", file=sys.stderr)
            return 1
        started.setdefault(cmd.project_name, set()).update(
            json.loads(closure.stdout).get("services") or {}
        )

    print(json.dumps({
        "service": service_names[0],
        "projects": {p: sorted(s) for p, s in sorted(projects.items())},
        "started": {p: sorted(s) for p, s in sorted(started.items())},
        "programs": sorted(p for ps in programs for p in ps),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
