from django.utils.decorators import method_decorator
from django_ratelimit.decorators import ratelimit
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.reverse import reverse

from apps.automl.api.serializers import (
    TrainingJobCreateSerializer,
    TrainingJobQueuedSerializer,
    TrainingJobResultsSerializer,
    TrainingJobSerializer,
)
from apps.automl.choices import JobStatus
from apps.automl.models import TrainingJob
from apps.automl.selectors import training_job_results, with_model_version_ids
from apps.automl.services import training_job_cancel, training_job_create
from apps.core.api.base import FilterSerializer, ProjectFilter, ScopedAPIView
from apps.core.exceptions import Conflict, NotFound
from apps.core.ratelimit import setting_rate
from apps.projects.selectors import datasets_visible_to


class TrainingJobFilter(FilterSerializer):
    project = ProjectFilter(source="project_id")


# What a job's status (TrainingJobSerializer) never prints: its results (GET .../results prints them) and the
# related rows' own columns. Polling clients ask for the status every few seconds; a leaderboard, a feature
# list and the dataset's column profile were read and decoded on every poll.
JOB_STATUS_DEFERRED = ("leaderboard", "metrics", "features", "class_labels", "split", "timings", "hyperparameters")


def job_status_only(queryset):
    """``queryset`` of jobs reading only what their status shows (the author's name, not the project or dataset)."""
    return queryset.select_related(None).select_related("created_by").defer(*JOB_STATUS_DEFERRED)


class TrainingJobScopedView(ScopedAPIView):
    """Jobs of the projects the user can see; any other job is simply not found."""

    abstract = True
    project_field = "project"
    serializer_class = TrainingJobSerializer
    queryset = TrainingJob.objects.all()

    def get_queryset(self):
        return with_model_version_ids(super().get_queryset())


class TrainingJobListCreateView(TrainingJobScopedView, generics.ListAPIView):
    """List jobs (``?project=``) or start one."""

    filter_serializer_class = TrainingJobFilter

    def get_queryset(self):
        return job_status_only(super().get_queryset())

    @extend_schema(parameters=[OpenApiParameter("project", OpenApiTypes.INT, description="Only this project's jobs")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=TrainingJobCreateSerializer, responses={202: TrainingJobQueuedSerializer})
    @method_decorator(
        ratelimit(group="automl-jobs", key="user", rate=setting_rate("RATELIMIT_AUTOML_JOBS"), block=True)
    )
    def post(self, request, *args, **kwargs):
        serializer = TrainingJobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        dataset = datasets_visible_to(user=request.user).filter(pk=data.pop("dataset_id")).first()
        if dataset is None:
            raise NotFound("No such dataset.")
        job = training_job_create(user=request.user, dataset=dataset, **data)
        location = reverse("api-v1:automl-job-detail", kwargs={"pk": job.pk}, request=request)
        return Response(
            TrainingJobQueuedSerializer(job).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location}
        )


class TrainingJobDetailView(TrainingJobScopedView, generics.RetrieveAPIView):
    """A job's status, progress and best model so far."""

    def get_queryset(self):
        return job_status_only(super().get_queryset())


class TrainingJobResultsView(TrainingJobScopedView):
    """The leaderboard, best model and test metrics of a succeeded job."""

    serializer_class = TrainingJobResultsSerializer

    def get(self, request, *args, **kwargs):
        job = self.get_object()
        if job.status != JobStatus.SUCCEEDED:
            detail = f"Results exist once the job has succeeded; it is {job.status}."
            if job.error:
                detail += f" {job.error}"
            raise Conflict(detail)
        return Response(TrainingJobResultsSerializer(training_job_results(job=job)).data)


class TrainingJobCancelView(TrainingJobScopedView):
    """Ask a queued or running job to stop; it ends ``cancelled`` within seconds."""

    @extend_schema(request=None, responses={202: TrainingJobSerializer})
    def post(self, request, *args, **kwargs):
        job = training_job_cancel(job=self.get_object(), user=request.user)
        job = self.get_queryset().get(pk=job.pk)
        return Response(TrainingJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
