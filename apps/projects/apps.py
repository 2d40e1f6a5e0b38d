from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "apps.projects"
    label = "projects"
    verbose_name = "Projects"

    def ready(self) -> None:
        from apps.core import scoping
        from apps.projects.permissions import check_project_visible, scope_to_visible_projects

        scoping.register_project_visibility(restrict=scope_to_visible_projects, check=check_project_visible)
