#!/bin/bash
# The native launcher's docker part, as /usr/bin/bmp.sh (docker_image_ctl.j2) does it, against the
# test dockerd and the stand-in feature image.
export DOCKER_HOST=${DOCKER_HOST:-unix:///var/lib/kubesonic-test/docker/docker.sock}
NAME=bmp
case "$1" in
  start)
    if docker inspect --type container "$NAME" >/dev/null 2>&1; then
      docker start "$NAME" >/dev/null
    else
      docker create --name "$NAME" --network none -e MEMHOG_MIB=24 --entrypoint /usr/bin/openbmpd localhost/kubesonic/feature:1 >/dev/null || { echo "Failed to docker run"; exit 4; }
      docker start "$NAME" >/dev/null
    fi
    ;;
  wait) exec docker wait "$NAME" ;;
  stop)
    if [ -n "$(docker ps -q --filter "name=^${NAME}\$")" ]; then docker stop -t 5 "$NAME" >/dev/null; else echo "$NAME: No such container"; fi
    ;;
  *) echo "Usage: $0 {start|wait|stop}"; exit 1 ;;
esac
