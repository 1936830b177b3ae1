"""Django's template backend, with text no response can encode made encodable.

SQLite keeps JSON holding lone surrogates ("\\ud800") that older versions let in; a page showing such a
value could not be encoded as UTF-8 and answered 500 for everyone until the value was deleted.
Every page and partial goes through this one backend, so each shows U+FFFD in its place instead.
"""

from django.template.backends import django as django_backend
from django.utils.safestring import SafeData, mark_safe

from flowsite.jsonsafe import clean_text


class Template(django_backend.Template):
    def render(self, context=None, request=None):
        html = super().render(context, request)
        cleaned = clean_text(html)
        if cleaned is html:
            return html
        return mark_safe(cleaned) if isinstance(html, SafeData) else cleaned


class DjangoTemplates(django_backend.DjangoTemplates):
    def from_string(self, template_code):
        return Template(self.engine.from_string(template_code), self)

    def get_template(self, template_name):
        try:
            return Template(self.engine.get_template(template_name), self)
        except django_backend.TemplateDoesNotExist as exc:
            django_backend.reraise(exc, self)
