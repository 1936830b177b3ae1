from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "flows"
    verbose_name = "People, organizations and flows"

    def ready(self) -> None:
        from flows.selectors import token_cached
        from flowsite.authentication import token_lookup_register

        # The API's token lookup, cached per process under the access version.
        token_lookup_register(token_cached)
