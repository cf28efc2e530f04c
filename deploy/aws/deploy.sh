#!/usr/bin/env bash
# Deploy (or update) the opply stack from deploy/aws/opply.yaml, migrate, roll the service.
#
#   deploy/aws/deploy.sh IMAGE_URI [Key=Value ...]
#
#   IMAGE_URI    the image to run, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/opply:<git-sha>
#   Key=Value    more stack parameters; the first deploy needs CertificateArn=arn:aws:acm:...
#                Parameters not given keep their current value on an existing stack.
#
#   STACK_NAME   stack name (default: opply). AWS_REGION / AWS_PROFILE as for the aws CLI.
#
# Steps:
#   1. aws cloudformation deploy. On an existing stack with a new image, the service keeps
#      its current image and only the migration task definition moves to the new one.
#   2. Run the migration task (`opply migrate`) once, wait for it, require exit code 0.
#   3. Roll the service onto the new image (a second stack update when the image changed,
#      else a forced new deployment, which also makes tasks re-read their secrets) and wait
#      until it is stable. A new service is also raised to MinTasks here.
set -euo pipefail

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
case $1 in -h | --help) usage ;; esac
IMAGE=$1
shift
STACK=${STACK_NAME:-opply}
TEMPLATE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/opply.yaml"
for kv in "$@"; do
  [[ $kv == *=* ]] || { echo "error: expected Key=Value, got '$kv'" >&2; exit 2; }
  case ${kv%%=*} in
    ImageUri | MigrationImageUri) echo "error: pass the image as the first argument, not as $kv" >&2; exit 2 ;;
  esac
done
OVERRIDES=("$@") # the operator's Key=Value parameters
command -v aws >/dev/null || { echo "error: the aws CLI is not on PATH" >&2; exit 1; }

output() {
  aws cloudformation describe-stacks --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

stack_deploy() { # SERVICE_IMAGE MIGRATION_IMAGE
  aws cloudformation deploy \
    --stack-name "$STACK" \
    --template-file "$TEMPLATE" \
    --capabilities CAPABILITY_IAM \
    --no-fail-on-empty-changeset \
    --parameter-overrides "ImageUri=$1" "MigrationImageUri=$2" ${OVERRIDES[@]+"${OVERRIDES[@]}"}
}

CURRENT=""
if aws cloudformation describe-stacks --stack-name "$STACK" >/dev/null 2>&1; then
  CURRENT=$(output ServiceImageUri)
fi

# --- 1. The stack -------------------------------------------------------------------
if [[ -n $CURRENT && $CURRENT != "$IMAGE" ]]; then
  echo "==> Updating stack $STACK (service stays on $CURRENT; migration task on $IMAGE)"
  stack_deploy "$CURRENT" "$IMAGE"
else
  # New stack (its tasks apply migrations at `serve` start), or the image is unchanged.
  echo "==> Deploying stack $STACK with $IMAGE"
  stack_deploy "$IMAGE" "$IMAGE"
fi

CLUSTER=$(output ClusterName)
SERVICE=$(output ServiceName)
MIGRATION_TASKDEF=$(output MigrationTaskDefinitionArn)
SUBNETS=$(output PrivateSubnets)
TASK_SG=$(output TaskSecurityGroup)
MIN_TASKS=$(output MinTasks)
LOG_GROUP=$(output LogGroupName)

# --- 2. Migrations ------------------------------------------------------------------
echo "==> Running the migration task ($MIGRATION_TASKDEF)"
TASK=$(aws ecs run-task \
  --cluster "$CLUSTER" \
  --task-definition "$MIGRATION_TASKDEF" \
  --launch-type FARGATE \
  --count 1 \
  --started-by opply-deploy \
  --network-configuration "awsvpcConfiguration={subnets=[$SUBNETS],securityGroups=[$TASK_SG],assignPublicIp=DISABLED}" \
  --query 'tasks[0].taskArn' --output text)
if [[ -z $TASK || $TASK == None ]]; then
  echo "error: the migration task did not start" >&2
  exit 1
fi
echo "    task $TASK"

# The waiter gives up after 10 minutes; keep waiting up to an hour.
for _ in 1 2 3 4 5 6; do
  if aws ecs wait tasks-stopped --cluster "$CLUSTER" --tasks "$TASK" 2>/dev/null; then
    break
  fi
done
STATUS=$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$TASK" \
  --query "tasks[0].[lastStatus, containers[?name=='opply'] | [0].exitCode, stoppedReason]" --output text)
read -r LAST_STATUS EXIT_CODE REASON <<<"$STATUS"
if [[ $LAST_STATUS != STOPPED || $EXIT_CODE != 0 ]]; then
  echo "error: migration failed (status $LAST_STATUS, exit code $EXIT_CODE, ${REASON:-no reason given})" >&2
  echo "       the service was not moved to $IMAGE. Last log lines:" >&2
  aws logs get-log-events --log-group-name "$LOG_GROUP" \
    --log-stream-name "migrate/opply/${TASK##*/}" --limit 30 \
    --query 'events[].message' --output text >&2 || true
  exit 1
fi
echo "==> Migrations applied"

# --- 3. The service -----------------------------------------------------------------
if [[ -n $CURRENT && $CURRENT != "$IMAGE" ]]; then
  echo "==> Moving the service to $IMAGE"
  stack_deploy "$IMAGE" "$IMAGE"
  FORCE=()
else
  FORCE=(--force-new-deployment)
fi
DESIRED=$(aws ecs describe-services --cluster "$CLUSTER" --services "$SERVICE" \
  --query 'services[0].desiredCount' --output text)
COUNT=()
if ((DESIRED < MIN_TASKS)); then
  COUNT=(--desired-count "$MIN_TASKS")
fi
if ((${#FORCE[@]} + ${#COUNT[@]} > 0)); then
  echo "==> Updating service $SERVICE ${FORCE[*]-} ${COUNT[*]-}"
  aws ecs update-service --cluster "$CLUSTER" --service "$SERVICE" \
    ${FORCE[@]+"${FORCE[@]}"} ${COUNT[@]+"${COUNT[@]}"} >/dev/null
fi
echo "==> Waiting for service $SERVICE to be stable"
aws ecs wait services-stable --cluster "$CLUSTER" --services "$SERVICE"
echo "==> Deployed $IMAGE: https://$(output LoadBalancerDnsName) (use the certificate's DNS name)"
