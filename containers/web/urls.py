from django.contrib.auth import views as auth_views
from django.urls import path

from containers.web import views

urlpatterns = [
    path("", views.containers, name="containers"),
    path("containers/<str:ref>/", views.container, name="container"),
    path("images/", views.images, name="images"),
    path("events/", views.events, name="events"),
    path("audit/", views.audit, name="audit"),
    path("hosts/", views.hosts, name="hosts"),
    path("volumes/", views.volumes, name="volumes"),
    path("networks/", views.networks, name="networks"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
