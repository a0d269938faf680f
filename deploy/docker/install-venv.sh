#!/bin/sh
# Run in the Dockerfile's build stage: `sh deploy/docker/install-venv.sh <service>`.
# Makes /opt/venv hold exactly what one service runs: the dependencies its own hashed
# lock pins (services/<service>/requirements.lock, `make lock`), then the library's
# and the service's wheels, all with --no-deps. The virtualenv gets no pip (the build
# tools' pip installs into it), and the library's development-only modules (the local
# server launcher behind `make run`) are removed: no service imports them.
set -eu
service=$1
pip=/opt/buildtools/bin/pip

python -m venv --without-pip /opt/venv
"$pip" --python /opt/venv/bin/python install --require-hashes --no-deps \
    -r "services/$service/requirements.lock"
"$pip" --python /opt/venv/bin/python install --no-deps --no-index \
    /wheels/conveyor_tasks-[0-9]*.whl /wheels/conveyor_"$service"-[0-9]*.whl
site=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
rm -f "$site/conveyor/devrun.py" "$site/conveyor/localserver.py"
/opt/venv/bin/python -m compileall -q "$site"
