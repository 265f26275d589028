"""/api/tokens/: a user's own API tokens (containers/tokens.py).

GET lists them (the 15-character lookup id, created, expiry; never a key), POST makes one
({"expiry_days": N} optional) and answers its key once, DELETE /api/tokens/{id}/ revokes.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from containers import tokens


class TokenCreateSerializer(serializers.Serializer):
    expiry_days = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                           max_value=tokens.MAX_EXPIRY_DAYS)


class TokenList(APIView):
    def get(self, request):
        return Response(tokens.listing(request.user))

    @extend_schema(request=TokenCreateSerializer, responses={201: dict})
    def post(self, request):
        ser = TokenCreateSerializer(data=request.data if isinstance(request.data, dict) else {})
        ser.is_valid(raise_exception=True)
        token, key = tokens.issue(request.user, ser.validated_data.get("expiry_days"))
        return Response({**tokens.describe(token), "token": key}, status=status.HTTP_201_CREATED)


class TokenDetail(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, token_id):
        tokens.revoke(request.user, token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
