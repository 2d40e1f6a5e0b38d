from django import forms
from django.conf import settings

from apps.automl.choices import TaskType


class TrainingJobForm(forms.Form):
    """The "new AutoML job" form of a project's jobs page; the service checks the rules needing the data."""

    dataset = forms.TypedChoiceField(coerce=int, label="Dataset")
    target = forms.CharField(max_length=255, label="Target column", help_text="The column to predict.")
    task_type = forms.ChoiceField(choices=TaskType.choices, initial=TaskType.AUTO, label="Task type")
    time_budget = forms.IntegerField(label="Time budget (seconds)", initial=120)
    metric = forms.CharField(max_length=64, required=False, help_text="Optional, e.g. roc_auc, f1_macro, rmse.")
    presets = forms.ChoiceField(label="Presets")
    registered_model_name = forms.CharField(max_length=200, required=False, label="Register the best model as")

    def __init__(self, *args, datasets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].choices = [(dataset.pk, dataset.name) for dataset in datasets]
        self.fields["time_budget"].min_value = settings.AUTOML_MIN_TIME_BUDGET
        self.fields["time_budget"].max_value = settings.AUTOML_MAX_TIME_BUDGET
        self.fields["time_budget"].widget.attrs.update(
            min=settings.AUTOML_MIN_TIME_BUDGET, max=settings.AUTOML_MAX_TIME_BUDGET
        )
        self.fields["time_budget"].validators.clear()
        self.fields["presets"].choices = [(name, name.replace("_", " ")) for name in settings.AUTOML_ALLOWED_PRESETS]
        self.fields["presets"].initial = settings.AUTOML_DEFAULT_PRESETS
        self.fields["target"].widget.attrs.update(list="target-columns", autocomplete="off")
