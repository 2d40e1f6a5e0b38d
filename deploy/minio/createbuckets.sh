#!/bin/sh
# One-shot set-up of MinIO for docker-compose.yml (safe to run again):
# the Maestro ML bucket and the MLflow artifact bucket, both private, and the application's own
# MinIO user (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) allowed to use those two buckets only.
set -eu

: "${MINIO_ROOT_USER:?MINIO_ROOT_USER is not set}"
: "${MINIO_ROOT_PASSWORD:?MINIO_ROOT_PASSWORD is not set}"
: "${AWS_ACCESS_KEY_ID:?AWS_ACCESS_KEY_ID is not set}"
: "${AWS_SECRET_ACCESS_KEY:?AWS_SECRET_ACCESS_KEY is not set}"
BUCKET="${AWS_STORAGE_BUCKET_NAME:-maestro}"
MLFLOW_BUCKET="${MLFLOW_BUCKET:-mlflow}"

mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"

for name in "$BUCKET" "$MLFLOW_BUCKET"; do
    mc mb --ignore-existing "local/$name"
    mc anonymous set none "local/$name"
done

cat > /tmp/maestro-app-policy.json <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
      "Resource": ["arn:aws:s3:::${BUCKET}", "arn:aws:s3:::${MLFLOW_BUCKET}"]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                 "s3:ListMultipartUploadParts"],
      "Resource": ["arn:aws:s3:::${BUCKET}/*", "arn:aws:s3:::${MLFLOW_BUCKET}/*"]
    }
  ]
}
JSON
mc admin policy create local maestro-app /tmp/maestro-app-policy.json
rm -f /tmp/maestro-app-policy.json

# Adding an existing user sets its secret again, so a rotated AWS_SECRET_ACCESS_KEY takes effect.
mc admin user add local "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
if ! mc admin user info local "$AWS_ACCESS_KEY_ID" | grep -q "maestro-app"; then
    mc admin policy attach local maestro-app --user "$AWS_ACCESS_KEY_ID"
fi
echo "MinIO is ready: buckets ${BUCKET} and ${MLFLOW_BUCKET}, user ${AWS_ACCESS_KEY_ID}"
