"""GET /api/audit/: the audit log (containers/audit.py), staff only, newest first, paginated.

Filters: user (username), via, action (contains), target, status, since / until (ISO 8601
times); page, page_size (≤ 500). Non-staff get 403.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAdminUser
from rest_framework.views import APIView

from containers.engine.errors import InvalidArgument
from containers.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = ["id", "time", "user", "username", "action", "target", "remote_addr", "via", "status"]


class AuditPages(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


def filtered(qs: QuerySet[AuditEntry], q) -> QuerySet[AuditEntry]:
    """`qs` narrowed by the query parameters (shared with the dashboard's audit page)."""
    if q.get("user"):
        qs = qs.filter(username=q["user"])
    if q.get("via"):
        qs = qs.filter(via=q["via"])
    if q.get("action"):
        qs = qs.filter(action__contains=q["action"])
    if q.get("target"):
        qs = qs.filter(target=q["target"])
    if q.get("status"):
        if not q["status"].isdigit():
            raise InvalidArgument("status must be a number")
        qs = qs.filter(status=int(q["status"]))
    for name, op in (("since", "time__gte"), ("until", "time__lte")):
        if q.get(name):
            when = parse_datetime(q[name])
            if when is None:
                raise InvalidArgument(f"{name} must be an ISO 8601 time")
            qs = qs.filter(**{op: when})
    return qs.order_by("-id")


class AuditList(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(parameters=[OpenApiParameter(n, str) for n in (
        "user", "via", "action", "target", "status", "since", "until", "page", "page_size")],
        responses=AuditEntrySerializer(many=True))
    def get(self, request):
        pages = AuditPages()
        qs = filtered(AuditEntry.objects.all(), request.query_params)
        rows = pages.paginate_queryset(qs, request, self)
        return pages.get_paginated_response(AuditEntrySerializer(rows, many=True).data)
