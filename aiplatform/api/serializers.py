from rest_framework import serializers


class PrincipalSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    authenticated_by = serializers.ChoiceField(choices=["session", "jwt", "api_key"])
    scopes = serializers.ListField(child=serializers.CharField(), help_text="The API key's scopes; empty for users.")
    language = serializers.CharField()
    time_zone = serializers.CharField()


class TaskResultSerializer(serializers.Serializer):
    """A background task's state: what every endpoint that starts a task
    answers (202), and what GET /api/system/tasks/{task_id}/ answers."""

    task_id = serializers.CharField(source="id", help_text="Poll GET /api/system/tasks/{task_id}/ with it.")
    task = serializers.CharField(source="task.name")
    status = serializers.CharField()
    enqueued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    return_value = serializers.SerializerMethodField()
    errors = serializers.SerializerMethodField()

    def get_return_value(self, result) -> dict | None:
        return result.return_value if result.status == "SUCCESSFUL" else None

    def get_errors(self, result) -> list[str]:
        return [error.exception_class_path for error in result.errors]
