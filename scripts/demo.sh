#!/usr/bin/env bash
# Set up, serve sample clips as RTSP cameras on 127.0.0.1:8554, and run sharpeyes
# with sharpeyes.yaml (embedded Redis, API on http://127.0.0.1:8080).
# Stop with Ctrl-C. The clips come from ../shared/media unless SHARPEYES_SHARED
# names another folder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

shared=${SHARPEYES_SHARED:-../shared}
media=$shared/media
for clip in pets09_s2l1_plaza.mp4 uk_motorway_cctv_lorries.mp4 indoor_one_by_one_people.mp4; do
  [[ -f $media/$clip ]] || { echo "demo: $media/$clip not found" >&2; exit 1; }
done

/usr/bin/python3 streams/rtsp_serve.py --port 8554 \
  plaza="$media/pets09_s2l1_plaza.mp4" \
  road="$media/uk_motorway_cctv_lorries.mp4" \
  hall="$media/indoor_one_by_one_people.mp4" > .rtsp-serve.out &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -f .rtsp-serve.out' EXIT
for _ in $(seq 50); do
  grep -q READY .rtsp-serve.out 2>/dev/null && break
  kill -0 $server 2>/dev/null || { echo "demo: RTSP server failed" >&2; exit 1; }
  sleep 0.2
done
if [[ -z ${SHARPEYES_ADMIN_TOKEN:-} ]]; then
  SHARPEYES_ADMIN_TOKEN=$(/usr/bin/python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
fi
export SHARPEYES_ADMIN_TOKEN
echo "demo: cameras on rtsp://127.0.0.1:8554/{plaza,road,hall}; API on http://127.0.0.1:8080"
echo "demo: admin token: $SHARPEYES_ADMIN_TOKEN"
echo "demo: try  curl -H \"Authorization: Bearer \$SHARPEYES_ADMIN_TOKEN\" http://127.0.0.1:8080/api/alerts"
.venv/bin/sharpeyes run --config sharpeyes.yaml
