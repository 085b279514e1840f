"""Retention: the plan's rules as jobs that delete what has expired."""

from aether_policy.retention.jobs import JobResult, RetentionJob, compile_jobs
from aether_policy.retention.schedule import RetentionScheduler

__all__ = ["JobResult", "RetentionJob", "RetentionScheduler", "compile_jobs"]
