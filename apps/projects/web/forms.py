from django import forms

from apps.projects.choices import ProjectRole


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class DatasetUploadForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="Defaults to the file's name.")
    file = forms.FileField(allow_empty_file=True, widget=forms.ClearableFileInput(attrs={"accept": ".csv,.parquet"}))


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=ProjectRole.choices, initial=ProjectRole.VIEWER)
