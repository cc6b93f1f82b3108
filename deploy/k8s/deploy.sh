#!/bin/sh
# Roll out one overlay: migrations first, then web, worker and beat.
#   deploy/k8s/deploy.sh staging|production
# 1. the previous migrate Job is deleted (a Job's pod template cannot change),
# 2. everything is applied; the new Job runs `kitaportal migrate`, new web pods stay unready
#    (/readyz) and new worker/beat pods wait in their init container until it has finished,
#    while the old pods keep serving,
# 3. we wait for the Job, then for the three Deployments.
set -eu
overlay=${1:?usage: deploy.sh staging|production}
dir="$(cd "$(dirname "$0")" && pwd)/overlays/$overlay"
[ -f "$dir/kustomization.yaml" ] || { echo "no overlay $overlay" >&2; exit 2; }
namespace=$(sed -n 's/^namespace: *//p' "$dir/kustomization.yaml")

kubectl -n "$namespace" delete job kitaportal-migrate --ignore-not-found --wait=true
kubectl apply -k "$dir"
if ! kubectl -n "$namespace" wait --for=condition=complete job/kitaportal-migrate --timeout=60m; then
    kubectl -n "$namespace" logs job/kitaportal-migrate --tail=100 >&2 || true
    echo "migrations failed: the old release keeps serving; fix and run again" >&2
    exit 1
fi
for deployment in kitaportal-web kitaportal-worker kitaportal-beat; do
    kubectl -n "$namespace" rollout status "deployment/$deployment" --timeout=15m
done
echo "rolled out $overlay"
