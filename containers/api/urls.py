from django.urls import path

from containers.api import views

urlpatterns = [
    path("containers/", views.ContainerList.as_view(), name="container-list"),
    path("containers/<str:ref>/", views.ContainerDetail.as_view(), name="container-detail"),
    path("containers/<str:ref>/start/", views.ContainerStart.as_view()),
    path("containers/<str:ref>/stop/", views.ContainerStop.as_view()),
    path("containers/<str:ref>/kill/", views.ContainerKill.as_view()),
    path("containers/<str:ref>/restart/", views.ContainerRestart.as_view()),
    path("containers/<str:ref>/wait/", views.ContainerWait.as_view()),
    path("containers/<str:ref>/logs/", views.ContainerLogs.as_view()),
    path("images/", views.ImageList.as_view(), name="image-list"),
    path("images/<str:ref>/", views.ImageDetail.as_view()),
    path("events/", views.EventList.as_view(), name="event-list"),
    path("info/", views.Info.as_view(), name="info"),
]
