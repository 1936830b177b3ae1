from django import forms
from django.contrib.auth.password_validation import validate_password

from flows.models import Flow


class SignupForm(forms.Form):
    email = forms.EmailField()
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(widget=forms.PasswordInput, min_length=8)

    def clean_password(self):
        password = self.cleaned_data["password"]
        validate_password(password)
        return password


class NameForm(forms.Form):
    name = forms.CharField(max_length=100)


class FlowSettingsForm(forms.Form):
    name = forms.CharField(max_length=100)
    access_mode = forms.ChoiceField(choices=Flow.AccessMode.choices)
    module = forms.ChoiceField(choices=[("", "None"), *Flow.Module.choices], required=False)
    disabled = forms.BooleanField(required=False)
