from django.conf import settings
from django.utils import translation
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.views import TokenObtainPairView

from aiplatform import services
from aiplatform.api.permissions import IsStaff, request_api_key
from aiplatform.api.serializers import PrincipalSerializer, TaskResultSerializer
from aiplatform.api.throttling import LoginRateThrottle
from aiplatform.choices import APIKeyScope


class TokenObtainView(TokenObtainPairView):
    """simplejwt's token pair, with password checks limited per address like
    the login page."""

    throttle_classes = [*TokenObtainPairView.throttle_classes, LoginRateThrottle]


class MeView(APIView):
    """Who the caller is, as the platform sees it."""

    api_key_scopes = tuple(APIKeyScope.values)  # any key may ask who it is

    @extend_schema(tags=["platform"], responses=PrincipalSerializer)
    def get(self, request):
        api_key = request_api_key(request)
        if api_key is not None:
            method, scopes = "api_key", api_key.scopes
        elif isinstance(request.successful_authenticator, JWTAuthentication):
            method, scopes = "jwt", []
        else:
            method, scopes = "session", []
        data = {
            "username": str(request.user.username),
            "is_staff": bool(request.user.is_staff),
            "authenticated_by": method,
            "scopes": scopes,
            "language": translation.get_language(),
            "time_zone": settings.TIME_ZONE,
        }
        return Response(PrincipalSerializer(data).data)


class SelfCheckTaskView(APIView):
    """Enqueue the platform self-check task (staff): proves the task worker runs."""

    permission_classes = [IsStaff]

    @extend_schema(tags=["platform"], request=None, responses={202: TaskResultSerializer})
    def post(self, request):
        result = services.selfcheck_enqueue(requested_by=request.user.pk)
        return Response(TaskResultSerializer(result).data, status=status.HTTP_202_ACCEPTED)


class TaskResultView(APIView):
    """The state and return value of any background task (staff)."""

    permission_classes = [IsStaff]

    @extend_schema(tags=["platform"], responses=TaskResultSerializer)
    def get(self, request, result_id: str):
        result = services.task_result_get(result_id=result_id)
        return Response(TaskResultSerializer(result).data)
