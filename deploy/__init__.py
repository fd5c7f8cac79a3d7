"""Deploying the gallery to AWS: stack, per-function IAM policies, Chalice stages."""
