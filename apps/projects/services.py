"""Writes and business rules of projects, their membership and their datasets."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import ProtectedError
from guardian.shortcuts import assign_perm, remove_perm

from apps.accounts.roles import has_capability
from apps.core.deletion import delete_refused
from apps.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceUnavailable, ValidationError
from apps.projects.choices import ProjectRole
from apps.projects.models import Dataset, Project, ProjectMembership
from apps.projects.permissions import ALL_OBJECT_PERMISSIONS, ROLE_OBJECT_PERMISSIONS, check_project_access
from apps.projects.tabular import column_summaries, profile_frame, read_table, release_memory
from apps.projects.uploads import local_upload

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger("maestro.projects")


# ---------------------------------------------------------------------------
# Projects
# ---------------------------------------------------------------------------
def _sync_object_permissions(*, project: Project, user: User, role: str | None) -> None:
    """Mirror a membership into guardian object permissions."""
    wanted = set(ROLE_OBJECT_PERMISSIONS[role]) if role else set()
    for codename in ALL_OBJECT_PERMISSIONS:
        if codename in wanted:
            assign_perm(f"projects.{codename}", user, project)
        else:
            remove_perm(f"projects.{codename}", user, project)


def _clean_project_name(*, owner: User, name: str, exclude_pk: int | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError("A project needs a name.", field="name")
    clash = Project.objects.filter(owner=owner, name=name)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError(f"You already have a project named '{name}'.", field="name")
    return name


@transaction.atomic
def project_create(*, owner: User, name: str, description: str = "") -> Project:
    """Create a project; its creator becomes its owner."""
    if not has_capability(owner, "projects:create"):
        raise PermissionDenied("Your account's role does not include 'projects:create'.")
    name = _clean_project_name(owner=owner, name=name)
    project = Project(owner=owner, name=name, description=description or "")
    project.full_clean()
    project.save()
    project_member_set(project=project, user=owner, role=ProjectRole.OWNER)
    return project


def project_ensure_active(*, project: Project) -> None:
    """Raise Conflict (409) when ``project`` is archived: it stays readable but takes no new datasets or jobs.

    Every service that adds work to a project (dataset uploads, training jobs) calls this first.
    """
    if project.is_archived:
        raise Conflict(
            f"Project '{project.name}' is archived: it stays readable but takes no new datasets or jobs. "
            "An owner can unarchive it (PATCH is_archived=false)."
        )


@transaction.atomic
def project_update(
    *,
    user: User,
    project: Project,
    name: str | None = None,
    description: str | None = None,
    is_archived: bool | None = None,
) -> Project:
    """Rename, describe, archive or unarchive a project. Owners only."""
    check_project_access(user=user, project=project, minimum=ProjectRole.OWNER)
    project = Project.objects.select_for_update().get(pk=project.pk)
    if name is not None:
        project.name = _clean_project_name(owner=project.owner, name=name, exclude_pk=project.pk)
    if description is not None:
        project.description = description
    if is_archived is not None:
        project.is_archived = is_archived
    project.full_clean()
    project.save()
    return project


def project_remove(*, project: Project) -> None:
    """Delete a project row with its memberships and object permissions. 409 while anything depends on it.

    No permission check: callers (``project_delete``, the admin) decide who may.
    """
    with transaction.atomic():
        members = [membership.user for membership in project.memberships.select_related("user")]
        try:
            with transaction.atomic():
                for member in members:
                    _sync_object_permissions(project=project, user=member, role=None)
                project.delete()
        except ProtectedError as exc:
            raise delete_refused(
                f"Project '{project.name}'",
                exc,
                relation="still has",
                hint="Delete those first, or archive the project to keep it read-only.",
            ) from exc


@transaction.atomic
def project_delete(*, user: User, project: Project) -> None:
    """Delete an empty project (owners). Refused (409) while it has datasets, jobs or models: archive it instead."""
    check_project_access(user=user, project=project, minimum=ProjectRole.OWNER)
    project_remove(project=Project.objects.select_for_update().get(pk=project.pk))


# ---------------------------------------------------------------------------
# Membership
# ---------------------------------------------------------------------------
def _hand_over_ownership(*, project: Project, leaving) -> None:
    """``project.owner`` is leaving the owner role: record another owner member as the project's owner."""
    successor = (
        ProjectMembership.objects.filter(project=project, role=ProjectRole.OWNER)
        .exclude(user=leaving)
        .select_related("user")
        .order_by("created_at", "id")
        .first()
    )
    if successor is None:
        raise ValidationError("A project keeps at least one owner.", field="role")
    if Project.objects.filter(owner=successor.user, name=project.name).exclude(pk=project.pk).exists():
        raise Conflict(
            f"'{successor.user.username}' would become the recorded owner of '{project.name}' but already owns a "
            "project with that name; rename one of them first."
        )
    project.owner = successor.user
    project.save(update_fields=["owner", "updated_at"])


@transaction.atomic
def project_member_set(*, project: Project, user: User, role: str) -> ProjectMembership:
    """Add ``user`` to ``project`` with ``role``, or change their role. Keeps guardian in step."""
    if role not in ProjectRole.values:
        raise ValidationError(
            f"'{role}' is not a project role; use one of {', '.join(ProjectRole.values)}.", field="role"
        )
    if not user.is_active:
        raise ValidationError("A deactivated user cannot join a project.", field="user_id")
    membership, created = ProjectMembership.objects.select_for_update().get_or_create(
        project=project, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        if membership.role == ProjectRole.OWNER and role != ProjectRole.OWNER:
            owners = ProjectMembership.objects.filter(project=project, role=ProjectRole.OWNER).count()
            if owners <= 1:
                raise ValidationError("A project keeps at least one owner.", field="role")
            if project.owner_id == user.pk:
                _hand_over_ownership(project=project, leaving=user)
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
    _sync_object_permissions(project=project, user=user, role=role)
    return membership


@transaction.atomic
def project_member_upsert(*, actor: User, project: Project, user: User, role: str) -> tuple[ProjectMembership, bool]:
    """An owner adds ``user`` with ``role`` or changes their role. Returns (membership, created)."""
    check_project_access(user=actor, project=project, minimum=ProjectRole.OWNER)
    created = not ProjectMembership.objects.filter(project=project, user=user).exists()
    return project_member_set(project=project, user=user, role=role), created


@transaction.atomic
def project_member_unset(*, project: Project, user: User) -> None:
    """Take ``user`` out of ``project``. The last owner cannot go (409). No permission check (see below)."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    membership = ProjectMembership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        raise NotFound(f"'{user.username}' is not a member of project '{project.name}'.")
    if membership.role == ProjectRole.OWNER:
        owners = ProjectMembership.objects.filter(project=project, role=ProjectRole.OWNER).count()
        if owners <= 1:
            raise Conflict("A project keeps at least one owner; make someone else owner first.")
        if project.owner_id == user.pk:
            _hand_over_ownership(project=project, leaving=user)
    _sync_object_permissions(project=project, user=user, role=None)
    membership.delete()


@transaction.atomic
def project_member_remove(*, actor: User, project: Project, user: User) -> None:
    """An owner removes a member; any member may remove themselves (leave). The last owner cannot go (409)."""
    minimum = ProjectRole.VIEWER if actor.pk == user.pk else ProjectRole.OWNER
    check_project_access(user=actor, project=project, minimum=minimum)
    project_member_unset(project=project, user=user)


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------
def _dataset_name(name: str | None, file: UploadedFile) -> str:
    name = (name or "").strip() or Path(getattr(file, "name", "") or "").stem.strip()
    if not name:
        raise ValidationError("A dataset needs a name.", field="name")
    max_length = Dataset._meta.get_field("name").max_length
    if len(name) > max_length:
        raise ValidationError(f"A dataset name has at most {max_length} characters.", field="name")
    return name


def _ensure_new_content(*, project: Project, sha256: str) -> None:
    existing = Dataset.objects.filter(project=project, sha256=sha256).only("id", "name").first()
    if existing is not None:
        raise Conflict(
            f"This file is already in project '{project.name}' as dataset '{existing.name}' (id {existing.pk}); "
            "use that dataset.",
            extra={"existing_dataset_id": existing.pk},
        )


def _store(*, storage, name: str, file: UploadedFile, path: Path) -> str:
    """Save the upload under ``name``: a handler-made temporary file is handed over (moved when local)."""
    try:
        if getattr(file, "inspection", None) is not None and hasattr(file, "temporary_file_path"):
            return storage.save(name, file)
        with open(path, "rb") as handle:
            return storage.save(name, File(handle, name=Path(name).name))
    except Exception as exc:
        logger.exception("Storing %s failed", name)
        _remove_partial(storage, name)
        raise ServiceUnavailable(f"The file store did not accept the dataset: {exc}") from exc


def _remove_partial(storage, name: str) -> None:
    """A store that fails half-way (a full disk) may leave part of the file under its final name: remove it.
    The name is this upload's own (a fresh uuid), so nothing else is ever deleted."""
    try:
        storage.delete(name)
    except Exception:  # noqa: BLE001 - the store is failing; the upload's own error is the one to report
        logger.warning("Could not remove the partial file %s", name, exc_info=True)


def dataset_create(*, user: User, project: Project, name: str | None, file: UploadedFile) -> Dataset:
    """Validate, profile and store an uploaded CSV (or Parquet) file as a new dataset of ``project``.

    Needs the editor role and the ``datasets:upload`` capability; the project must not be archived.
    The bytes are hashed while they stream (``apps.projects.uploads``), checked and parsed before
    anything is stored, and saved under a generated name ``datasets/<project id>/<uuid>.<ext>``.
    The same content uploaded again into the project answers 409 with ``existing_dataset_id``.
    On any failure nothing is left behind: no row and no stored file.
    """
    check_project_access(user=user, project=project, minimum=ProjectRole.EDITOR, capability="datasets:upload")
    project_ensure_active(project=project)
    name = _dataset_name(name, file)
    storage = Dataset._meta.get_field("file").storage
    with local_upload(file) as (path, inspection):
        _ensure_new_content(project=project, sha256=inspection.sha256)
        try:
            parsed = read_table(path, inspection, max_columns=settings.DATASET_MAX_COLUMNS)
            file_format = parsed.file_format
            profile = profile_frame(parsed.frame)
            del parsed
        finally:
            release_memory()
        stored_name = _store(
            storage=storage, name=f"datasets/{project.pk}/{uuid.uuid4().hex}.{file_format}", file=file, path=path
        )
    try:
        with transaction.atomic():
            project = Project.objects.select_for_update().get(pk=project.pk)
            project_ensure_active(project=project)
            _ensure_new_content(project=project, sha256=inspection.sha256)
            dataset = Dataset(
                project=project,
                name=name,
                file=stored_name,
                original_filename=Path(getattr(file, "name", "") or "").name[:255],
                file_format=file_format,
                sha256=inspection.sha256,
                size_bytes=inspection.size_bytes,
                n_rows=profile["n_rows"],
                n_columns=profile["n_columns"],
                columns=column_summaries(profile),
                profile=profile,
                created_by=user,
            )
            dataset.full_clean()
            dataset.save()
    except BaseException:
        storage.delete(stored_name)
        raise
    logger.info(
        "Dataset %s stored as %s (%s bytes, sha256 %s)", dataset.pk, stored_name, dataset.size_bytes, dataset.sha256
    )
    return dataset


def sample_dataset_add(*, user: User, project: Project, sample: str) -> Dataset:
    """Upload one of the sample datasets shipped with Maestro ML (``apps.projects.samples``) into ``project``,
    through ``dataset_create`` like any upload (same checks, profile and hash). 400 for an unknown sample."""
    from django.core.files import File

    from apps.projects.samples import SAMPLES

    chosen = SAMPLES.get(sample)
    if chosen is None:
        raise ValidationError(f"No sample dataset is named '{sample}'; choose one of {', '.join(SAMPLES)}.")
    with open(chosen.path, "rb") as handle:
        return dataset_create(user=user, project=project, name=chosen.title, file=File(handle, name=chosen.filename))


def dataset_remove(*, dataset: Dataset) -> None:
    """Delete a dataset row and, once that is committed, its file. 409 when a job or model uses it.

    No permission check: callers (``dataset_delete``, the admin) decide who may.
    """
    with transaction.atomic():
        file_name = dataset.file.name
        storage = dataset.file.storage
        try:
            with transaction.atomic():
                dataset.delete()
        except ProtectedError as exc:
            raise delete_refused(f"Dataset '{dataset.name}'", exc) from exc
        if file_name:
            transaction.on_commit(lambda: storage.delete(file_name))


@transaction.atomic
def dataset_delete(*, user: User, dataset: Dataset) -> None:
    """Delete a dataset: editor role and the ``datasets:delete`` capability needed; 409 while it is in use."""
    check_project_access(user=user, project=dataset.project, minimum=ProjectRole.EDITOR, capability="datasets:delete")
    dataset_remove(dataset=dataset)
