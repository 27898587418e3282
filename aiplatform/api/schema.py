"""OpenAPI description of our authentication classes."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "aiplatform.api.authentication.APIKeyAuthentication"
    name = ["ApiKeyAuth", "XApiKeyAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Api-Key <key>`; keys are created with `manage.py create_api_key` or in the admin.",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "The same key, as the seed clients send it.",
            },
        ]
