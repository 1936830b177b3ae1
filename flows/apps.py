from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "flows"
    verbose_name = "People, organizations and flows"

    def ready(self) -> None:
        from django.core.signals import request_finished, request_started

        from flows.selectors import access_version_forget, token_cached
        from flowsite.authentication import token_lookup_register

        # The API's token lookup, cached per process under the access version, which a request's
        # flow check then reads no second time.
        token_lookup_register(token_cached)
        request_started.connect(access_version_forget)
        request_finished.connect(access_version_forget)
